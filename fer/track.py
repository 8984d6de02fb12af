"""Follow faces across frames and smooth each face's emotion over time.

A per-frame classifier flickers between neighbouring emotions on the same face; teachers
need a stable reading per student, so each face is matched to the track it continues (by
box overlap, IoU) and its probabilities are an exponential moving average over that track.
A track missed for ``max_missed_frames`` frames or ``max_missed_seconds`` seconds ends, so
a student who leaves and comes back, or a stranger in the same seat, starts fresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from fer.records import Box, Face


@dataclass(frozen=True)
class TrackerOptions:
    """``iou_threshold``: least overlap for a box to continue a track.
    ``smoothing``: weight of the newest probabilities in the moving average (1.0 = none).
    ``max_missed_frames`` / ``max_missed_seconds``: a track unseen for longer than either ends.
    """

    iou_threshold: float = 0.3
    smoothing: float = 0.4
    max_missed_frames: int = 10
    max_missed_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {self.iou_threshold}")


@dataclass
class Track:
    """One face followed over time; ``probs`` is its smoothed distribution."""

    track_id: int
    box: Box
    probs: np.ndarray
    score: float
    last_seen: float
    missed: int = 0
    hits: int = 1


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 when disjoint)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if inter == 0:
        return 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def match(tracks: Sequence[Box], boxes: Sequence[Box], threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs ``(track_index, box_index)``, best overlap first.

    Greedy matching equals the optimal assignment whenever faces do not overlap each other,
    which is the classroom case, and needs no solver for the few dozen faces of a frame.
    """
    candidates = [
        (iou(t, b), ti, bi) for ti, t in enumerate(tracks) for bi, b in enumerate(boxes)
    ]
    candidates.sort(reverse=True)
    used_t, used_b, pairs = set(), set(), []
    for overlap, ti, bi in candidates:
        if overlap < threshold or overlap == 0.0:
            break
        if ti in used_t or bi in used_b:
            continue
        used_t.add(ti)
        used_b.add(bi)
        pairs.append((ti, bi))
    return pairs


@dataclass
class FaceTracker:
    """Stable ids and smoothed probabilities for the faces of consecutive frames.

    Call :meth:`update` once per analysed frame with that frame's boxes and raw
    probabilities; it returns one :class:`Face` per box, in the order given.
    """

    options: TrackerOptions = field(default_factory=TrackerOptions)
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def update(
        self,
        boxes: Sequence[Box],
        probs: np.ndarray,
        timestamp: float,
        scores: Sequence[float] | None = None,
    ) -> list[Face]:
        probs = np.asarray(probs, np.float32)
        if len(boxes) != len(probs):
            raise ValueError(f"{len(boxes)} boxes but {len(probs)} probability rows")
        scores = list(scores) if scores is not None else [1.0] * len(boxes)
        alpha = self.options.smoothing
        pairs = match([t.box for t in self.tracks], boxes, self.options.iou_threshold)
        track_of_box: dict[int, Track] = {}
        for ti, bi in pairs:
            track = self.tracks[ti]
            track.box = boxes[bi]
            track.probs = (alpha * probs[bi] + (1.0 - alpha) * track.probs).astype(np.float32)
            track.score = scores[bi]
            track.last_seen = timestamp
            track.missed = 0
            track.hits += 1
            track_of_box[bi] = track
        matched = {id(t) for t in track_of_box.values()}
        for track in self.tracks:
            if id(track) not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if id(t) in matched or not self._expired(t, timestamp)]
        for bi, box in enumerate(boxes):
            if bi not in track_of_box:
                track = Track(self._next_id, box, probs[bi].copy(), scores[bi], timestamp)
                self._next_id += 1
                self.tracks.append(track)
                track_of_box[bi] = track
        return [
            Face(box=track_of_box[bi].box, probs=track_of_box[bi].probs.copy(),
                 track_id=track_of_box[bi].track_id, score=track_of_box[bi].score)
            for bi in range(len(boxes))
        ]

    def _expired(self, track: Track, now: float) -> bool:
        return (
            track.missed > self.options.max_missed_frames
            or now - track.last_seen > self.options.max_missed_seconds
        )

    def live_boxes(self) -> list[Box]:
        """Boxes of tracks seen on the latest update: reused on frames that skip detection."""
        return [t.box for t in self.tracks if t.missed == 0]

    def reset(self) -> None:
        self.tracks = []
        self._next_id = 1
