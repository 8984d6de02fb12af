"""The face record passed through the stages of frame analysis, and its one row form.

One :class:`Face` per face goes from the detector to the caller, each stage filling in its
part: the detector gives ``box``, ``score`` and (YuNet, MTCNN) ``landmarks``; the pipeline
adds the head ``pose`` from those landmarks; the classifier adds ``probs``; the tracker
gives ``track_id`` and replaces ``probs`` by the track's smoothed ones. On frames that skip
the detector, the follower moves ``box`` and ``landmarks`` and sets ``detected`` to False;
``score`` stays that of the face's last detection, since nothing re-scored it.

Boxes are always ``(x1, y1, x2, y2)`` integer pixels of the frame the caller passed in,
with ``x2``/``y2`` exclusive, so ``frame[y1:y2, x1:x2]`` is the face.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fer.emotions import EMOTIONS
from fer.vision.pose import HeadPose

Box = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Face:
    """One face, filled in stage by stage (see the module docstring).

    ``probs``: ``(7,)`` float32 in :data:`fer.emotions.EMOTIONS` order, summing to 1 (None
    until classified). ``track_id``: None until tracked. ``score``: the detector's confidence
    at the face's last detection (None for a record not made by a detector).
    ``landmarks``: ``(5, 2)`` float pixels (image-left eye, image-right eye, nose, mouth
    image-left, mouth image-right), None where the detector gives none (Haar).
    ``detected``: False when the box was followed from an earlier detection.
    ``pose``: head yaw, pitch and roll from the landmarks (:mod:`fer.vision.pose`).
    """

    box: Box
    probs: np.ndarray | None = None
    track_id: int | None = None
    score: float | None = None
    landmarks: np.ndarray | None = None
    detected: bool = True
    pose: HeadPose | None = None

    @property
    def label(self) -> str:
        return EMOTIONS[int(np.argmax(self.probs))]

    @property
    def facing(self) -> bool | None:
        """Turned towards the screen (:attr:`HeadPose.facing`); None without a pose."""
        return None if self.pose is None else self.pose.facing

    def moved(self, box: Box) -> "Face":
        """This face followed to ``box``: landmarks shift with it, and it was not detected there."""
        landmarks = self.landmarks
        if landmarks is not None:
            landmarks = np.asarray(landmarks) + (box[0] - self.box[0], box[1] - self.box[1])
        return replace(self, box=box, landmarks=landmarks, detected=False)

    def scaled(self, factor: float, size: tuple[int, int] | None = None) -> "Face":
        """This face in pixels of a copy of its frame scaled by ``factor`` (clipped to ``size``)."""
        if factor == 1.0:
            return self
        x1, y1, x2, y2 = (int(round(v * factor)) for v in self.box)
        if size is not None:
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(size[0], x2), min(size[1], y2)
        landmarks = None if self.landmarks is None else np.asarray(self.landmarks) * factor
        return replace(self, box=(x1, y1, x2, y2), landmarks=landmarks)

    def to_dict(self) -> dict:
        """The face as one flat row (:func:`face_row`)."""
        return face_row(self)


#: Columns of :func:`face_row`, in order: what the CLI's CSV, its JSON, the analysis page and
#: an uploaded video's table all show.
ROW_COLUMNS = (
    "track_id", "x1", "y1", "x2", "y2", "label", "confidence", "detector_score", "detected",
    "yaw", "pitch", "roll", "facing", *EMOTIONS,
)


def face_row(face: Face, **context) -> dict:
    """The one row form of a face: ``context`` columns first (e.g. ``time_s``, ``frame``),
    then :data:`ROW_COLUMNS`. Missing values (no pose, no score) are None."""
    pose, probs = face.pose, face.probs
    return {
        **context,
        "track_id": face.track_id,
        "x1": face.box[0], "y1": face.box[1], "x2": face.box[2], "y2": face.box[3],
        "label": None if probs is None else face.label,
        "confidence": None if probs is None else round(float(np.max(probs)), 4),
        "detector_score": None if face.score is None else round(float(face.score), 4),
        "detected": face.detected,
        "yaw": None if pose is None else pose.yaw,
        "pitch": None if pose is None else pose.pitch,
        "roll": None if pose is None else pose.roll,
        "facing": face.facing,
        **{name: None if probs is None else round(float(probs[i]), 5) for i, name in enumerate(EMOTIONS)},
    }


@dataclass(frozen=True)
class FrameResult:
    """Everything :meth:`fer.FrameAnalyzer.analyze` learnt from one frame.

    ``faces`` is empty when no face was found, which is a normal result. ``detected`` is
    ``False`` on frames where the detector was skipped and the tracked boxes were followed.
    """

    faces: list[Face] = field(default_factory=list)
    timestamp: float = 0.0
    frame_size: tuple[int, int] = (0, 0)  # (width, height) of the frame as passed in
    detected: bool = True
