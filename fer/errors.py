"""The exceptions ClassMood raises on purpose, so callers can catch ours apart from bugs.

The web app catches :class:`FerError` around each frame and keeps streaming; the CLI turns
it into one line on stderr and a non-zero exit code. Messages name the file or the input and
say what was wrong, because they are shown to people as they are.
"""

from __future__ import annotations


class FerError(Exception):
    """Base of every error the library raises deliberately."""


class InputError(FerError, ValueError):
    """A frame, image or video we cannot analyze (wrong shape, dtype, empty, unreadable)."""


class ModelLoadError(FerError):
    """The emotion model file is missing, corrupt, or does not keep the model contract."""


class DetectorError(FerError):
    """A face detector cannot be created (unknown name, missing package or weights)."""
