"""The typed records passed between the stages of frame analysis.

Boxes are always ``(x1, y1, x2, y2)`` integer pixels of the frame the caller passed in,
with ``x2``/``y2`` exclusive, so ``frame[y1:y2, x1:x2]`` is the face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer.emotions import EMOTIONS

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    """One face found by a detector.

    ``landmarks`` is ``(5, 2)`` float pixels (left eye, right eye, nose, mouth left, mouth
    right, "left" meaning image left) when the detector gives them, else ``None``.
    """

    box: Box
    score: float
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class Face:
    """One face of an analyzed frame: where it is, how it feels (smoothed), which track."""

    box: Box
    probs: np.ndarray  # (7,) float32 in fer.emotions.EMOTIONS order, sums to 1
    track_id: int
    score: float = 1.0

    @property
    def label(self) -> str:
        return EMOTIONS[int(np.argmax(self.probs))]

    def to_dict(self) -> dict:
        """Plain JSON-ready form, the one the CLI writes."""
        return {
            "track_id": self.track_id,
            "box": list(self.box),
            "label": self.label,
            "score": round(float(self.score), 4),
            "probs": {name: round(float(p), 5) for name, p in zip(EMOTIONS, self.probs)},
        }


@dataclass(frozen=True)
class FrameResult:
    """Everything :meth:`fer.FrameAnalyzer.analyze` learnt from one frame.

    ``faces`` is empty when no face was found, which is a normal result. ``detected`` is
    ``False`` on frames where the detector was skipped and the tracked boxes were reused.
    """

    faces: list[Face] = field(default_factory=list)
    timestamp: float = 0.0
    frame_size: tuple[int, int] = (0, 0)  # (width, height) of the frame as passed in
    detected: bool = True
