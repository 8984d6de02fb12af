"""The one cached loader for heavy resources (emotion model, face detectors).

Loading a Keras model or MTCNN takes seconds, and the web app runs one analyzer per student
thread, so each resource is loaded at most once per process, on first use, never at import.
A per-key lock makes concurrent first calls wait for one load instead of racing. Keys of
file-backed resources include the file's size and modification time, so a model retrained in
place is picked up by analyzers created afterwards.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

_cache: dict[Hashable, object] = {}
_locks: dict[Hashable, threading.Lock] = {}
_guard = threading.Lock()


def load_once(key: Hashable, load: Callable[[], T]) -> T:
    """Return the cached value for ``key``, calling ``load()`` only the first time.

    A failed load is not cached: the next call tries again (the file may have been fixed).
    """
    try:
        return _cache[key]  # type: ignore[return-value]
    except KeyError:
        pass
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = load()
        return _cache[key]  # type: ignore[return-value]


def file_key(kind: str, path: str | os.PathLike) -> tuple:
    """A cache key that changes when the file at ``path`` is replaced."""
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
        return (kind, str(resolved), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return (kind, str(resolved), None, None)


def clear() -> None:
    """Forget every loaded resource (tests use it to check loading happens once)."""
    with _guard:
        _cache.clear()
        _locks.clear()
