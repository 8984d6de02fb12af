"""Follow faces across frames and smooth each face's emotion over time.

A per-frame classifier flickers between neighbouring emotions on the same face; teachers
need a stable reading per student, so each face is matched to the track it continues (by
box overlap, IoU) and its probabilities are an exponential moving average over that track.
A track missed for ``max_missed_frames`` frames or ``max_missed_seconds`` seconds ends, so
a student who leaves and comes back, or a stranger in the same seat, starts fresh.

Between full detector searches, :class:`FaceFollower` moves each track's box to where its
face is now, so a student who moves stays inside the crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import cv2
import numpy as np

from fer.vision.records import Box, Face


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
    """One face followed over time: its latest record, whose ``probs`` are the smoothed ones."""

    face: Face
    last_seen: float
    missed: int = 0
    hits: int = 1

    @property
    def track_id(self) -> int:
        return self.face.track_id

    @property
    def box(self) -> Box:
        return self.face.box


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

    Call :meth:`update` once per analyzed frame with that frame's classified faces (raw
    probabilities); it returns each face, in the order given, with its track id and its
    track's smoothed probabilities; the rest of the record passes through unchanged.
    """

    options: TrackerOptions = field(default_factory=TrackerOptions)
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, faces: Sequence[Face], timestamp: float) -> list[Face]:
        if any(f.probs is None for f in faces):
            raise ValueError("the tracker smooths probabilities: classify the faces first")
        alpha = self.options.smoothing
        pairs = match([t.box for t in self.tracks], [f.box for f in faces], self.options.iou_threshold)
        out: list[Face | None] = [None] * len(faces)
        matched = set()
        for ti, fi in pairs:
            track = self.tracks[ti]
            probs = (alpha * np.asarray(faces[fi].probs, np.float32) + (1.0 - alpha) * track.face.probs)
            track.face = replace(faces[fi], track_id=track.track_id, probs=probs.astype(np.float32))
            track.last_seen = timestamp
            track.missed = 0
            track.hits += 1
            matched.add(id(track))
            out[fi] = track.face
        for track in self.tracks:
            if id(track) not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if id(t) in matched or not self._expired(t, timestamp)]
        for fi, face in enumerate(faces):
            if out[fi] is None:
                track = Track(replace(face, track_id=self._next_id, probs=np.array(face.probs, np.float32)), timestamp)
                self._next_id += 1
                self.tracks.append(track)
                out[fi] = track.face
        return [replace(f, probs=f.probs.copy()) for f in out]

    def _expired(self, track: Track, now: float) -> bool:
        return (
            track.missed > self.options.max_missed_frames
            or now - track.last_seen > self.options.max_missed_seconds
        )

    def live_faces(self) -> list[Face]:
        """The latest record of each track seen on the latest update: what is followed on
        frames that skip detection."""
        return [t.face for t in self.tracks if t.missed == 0]

    def reset(self) -> None:
        self.tracks = []
        self._next_id = 1


@dataclass
class FaceFollower:
    """Moves each tracked box to where its face is now, on frames that skip the detector.

    Why template matching: the full search runs only every few frames, and a student who
    moves in between slips out of a box left where it was. Each face is remembered as it
    looked on its last detection (gray, scaled to ``template_px`` wide); on a later frame the
    window around its box (grown by ``context`` of its side on every side, scaled alike) is
    searched for it by normalised cross-correlation, a small fraction of a detector search in the
    same window, the method this replaced (``python -m fer bench`` prints its cost). It follows
    translation only; a face that turned, scaled or left scores under ``min_score`` and keeps
    its box until the next full search decides. Templates are never refreshed between
    searches, so errors cannot accumulate.
    """

    template_px: int = 32
    context: float = 0.5
    min_score: float = 0.5
    _templates: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def remember(self, gray: np.ndarray, tracks: Sequence[tuple[int, Box]]) -> None:
        """Take the templates of a detection frame's faces (forgetting every other track)."""
        self._templates = {}
        height, width = gray.shape[:2]
        for track_id, (x1, y1, x2, y2) in tracks:
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
            if x2 - x1 < 8 or y2 - y1 < 8:
                continue
            scale = self.template_px / (x2 - x1)
            size = (self.template_px, max(2, round((y2 - y1) * scale)))
            patch = cv2.resize(gray[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
            if float(patch.std()) > 1.0:  # a flat patch matches anything
                self._templates[track_id] = patch

    def follow(self, gray: np.ndarray, tracks: Sequence[tuple[int, Box]]) -> list[Box | None]:
        """Each track's box moved onto its face in ``gray``, or ``None`` where it was not found."""
        return [self._follow_one(gray, track_id, box) for track_id, box in tracks]

    def _follow_one(self, gray: np.ndarray, track_id: int, box: Box) -> Box | None:
        template = self._templates.get(track_id)
        if template is None:
            return None
        height, width = gray.shape[:2]
        x1, y1, x2, y2 = box
        side = max(1, x2 - x1)
        pad = int(side * self.context)
        scale = self.template_px / side
        # The window starts a whole number of template pixels before the box, also where the
        # frame edge cuts it, so the window and the template are sampled on the same grid and
        # a still face matches exactly where it was.
        left, top = (round(math.floor(min(pad, v) * scale) / scale) for v in (x1, y1))
        wx1, wy1 = x1 - left, y1 - top
        wx2, wy2 = min(width, x2 + pad), min(height, y2 + pad)
        size = (round((wx2 - wx1) * scale), round((wy2 - wy1) * scale))
        if size[0] < template.shape[1] or size[1] < template.shape[0]:
            return None  # the window left the frame: nothing to match against
        window = cv2.resize(gray[wy1:wy2, wx1:wx2], size, interpolation=cv2.INTER_AREA)
        if float(window.std()) <= 1.0:
            return None
        scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (mx, my) = cv2.minMaxLoc(scores)
        if not best >= self.min_score:  # also NaN
            return None
        # The box moves by the match's offset from where it sits in the window. Within half
        # a window pixel of it (a few frame pixels) it stays put: rounding alone must not
        # make a still face's box jitter.
        ox, oy = (x1 - wx1) * scale, (y1 - wy1) * scale
        if abs(mx - ox) <= 0.5 and abs(my - oy) <= 0.5:
            return box
        dx, dy = round((mx - ox) / scale), round((my - oy) / scale)
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    def reset(self) -> None:
        self._templates = {}
