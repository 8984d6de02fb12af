"""What the classroom stores: one student's analyzed moment, and the teacher's marked moments.

These are the records that cross from the live stream into the store and from the store into
aggregation; they live apart from both so that neither has to import the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fer.emotions import EMOTIONS
from fer.errors import InputError


@dataclass(frozen=True)
class StudentSample:
    """One analyzed moment of one student, the only thing the video pipeline stores.

    ``probs`` is the student's face's emotion probabilities in :data:`fer.emotions.EMOTIONS`
    order (any ``(7,)`` sequence, stored as a tuple of floats), or ``None`` when no face was
    seen. ``facing`` says whether that face was turned towards the screen for most of the
    sample's interval (:mod:`fer.vision.pose`), ``None`` where no face or no head pose was
    seen (a detector without landmarks). Only these numbers are kept: never the frame, the
    crop or an embedding.
    ``lost`` marks a heartbeat of a student page whose video ended without STOP or Leave and
    which is reconnecting (never with ``probs``): the dashboard says "connection lost" then,
    not "no video".
    """

    room: str
    student_id: str
    time: float
    probs: tuple[float, ...] | None = None
    facing: bool | None = None
    lost: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", float(self.time))
        if not math.isfinite(self.time):
            raise InputError(f"sample time must be finite, got {self.time}")
        if self.lost and self.probs is not None:
            raise InputError("a connection-lost heartbeat carries no probabilities")
        object.__setattr__(self, "lost", bool(self.lost))
        if self.facing is not None:
            if not isinstance(self.facing, (bool, np.bool_, int)) or self.facing not in (0, 1):
                raise InputError(f"sample facing must be True, False or None, got {self.facing!r}")
            object.__setattr__(self, "facing", bool(self.facing))
        if self.probs is None:
            if self.facing is not None:
                raise InputError("a sample without a face cannot say whether the face was facing the screen")
            return
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.shape != (len(EMOTIONS),):
            raise InputError(f"sample probs must have shape ({len(EMOTIONS)},), got {probs.shape}")
        if not np.all(np.isfinite(probs)) or probs.min() < -1e-6 or abs(probs.sum() - 1.0) > 1e-2:
            raise InputError(f"sample probs must be non-negative and sum to 1, got {probs.round(4).tolist()}")
        object.__setattr__(self, "probs", tuple(float(p) for p in np.clip(probs, 0.0, None)))

    @property
    def has_face(self) -> bool:
        return self.probs is not None

    @property
    def label(self) -> str | None:
        return None if self.probs is None else EMOTIONS[int(np.argmax(self.probs))]


@dataclass(frozen=True)
class Moment:
    """A point the teacher marked on the timeline ("quiz starts"), drawn on the charts."""

    room: str
    time: float
    label: str
