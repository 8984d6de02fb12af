"""From per-student samples to what a teacher sees: class mood, student tiles, windows, alerts.

Everything here is a pure function of the roster and the stored samples, with the time
passed in. That is what lets a reloaded dashboard, a second app process and the end-of-
session report all show the same numbers: none of them keeps state of its own.

Two choices shape every number:

* A student counts as *present* while a face of theirs was seen within the presence
  timeout; their *current* expression is the one of that latest face. A sample without a
  face does not erase the last face at once, so a student glancing away for a second does
  not blink out of the class average.
* Averages give every present student the same weight, however many samples they sent,
  so a student on a fast connection does not count more than one on a slow one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Sequence

import numpy as np

from fer.classroom.rooms import Student
from fer.classroom.samples import StudentSample
from fer.config import AlertConfig
from fer.emotions import EMOTIONS
from fer.errors import InputError

#: Expressions the "negative mood" alert counts. Surprise is left out on purpose: it
#: accompanies good news as often as bad.
NEGATIVE_EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "sad")
_NEGATIVE_MASK = np.array([name in NEGATIVE_EMOTIONS for name in EMOTIONS])

#: What :attr:`ClassSnapshot.presence_rate` measures, in words to show next to the number.
PRESENCE_RATE_DEFINITION = (
    "Presence rate: the share of students in the room whose face the camera saw during the "
    "last few seconds (the presence timeout). It measures presence in front of the camera "
    "only, not attention, engagement or understanding: a student can look at the screen and "
    "think of something else, or look away and listen closely."
)

#: What :attr:`ClassSnapshot.facing_share` measures, in words to show next to the number.
FACING_DEFINITION = (
    "Facing the screen: the share of present students whose head was turned towards their "
    "screen (head turned at most 30 degrees sideways and tilted at most 25 degrees up or "
    "down, estimated from five points of the face). Facing is not attention: a student can "
    "face the screen and think of something else, or look down at notes and follow closely. "
    "The angles are rough, worse on small or blurred faces, and a camera placed beside the "
    "screen makes a student who looks at the screen seem turned away."
)


@dataclass(frozen=True)
class ClassSnapshot:
    """The class at one instant.

    ``distribution`` is the mean current probabilities over present students (``None``
    when nobody is present: an empty room has no mood, rather than a neutral one);
    ``label_counts[i]`` is how many present students' most likely expression is
    ``EMOTIONS[i]``. ``facing`` counts present students whose latest face was facing the
    screen, out of ``facing_known`` whose latest face had a head pose.
    """

    room: str
    time: float
    joined: int
    present: int
    distribution: tuple[float, ...] | None
    label_counts: tuple[int, ...]
    facing: int = 0
    facing_known: int = 0

    @property
    def absent(self) -> int:
        return self.joined - self.present

    @property
    def dominant(self) -> str | None:
        """The expression with the largest mean probability (``None`` with nobody present)."""
        return None if self.distribution is None else EMOTIONS[int(np.argmax(self.distribution))]

    @property
    def presence_rate(self) -> float | None:
        """See :data:`PRESENCE_RATE_DEFINITION`; ``None`` when nobody has joined."""
        return None if self.joined == 0 else self.present / self.joined

    @property
    def negative_share(self) -> float | None:
        """Share of present students whose most likely expression is negative."""
        if self.present == 0:
            return None
        return sum(c for c, neg in zip(self.label_counts, _NEGATIVE_MASK) if neg) / self.present

    @property
    def facing_share(self) -> float | None:
        """See :data:`FACING_DEFINITION`; ``None`` when no present face had a head pose."""
        return None if self.facing_known == 0 else self.facing / self.facing_known


class Presence(str, Enum):
    """Why a student tile looks the way it does; the teacher needs to tell a frozen
    camera from a student who stepped away from it."""

    PRESENT = "present"  # a face was seen within the presence timeout
    NO_FACE = "no_face"  # samples arrive, but without a face
    LOST = "lost"  # the student's video ended without STOP or Leave; their page is reconnecting
    AWAY = "away"  # no sample within the timeout: disconnected, or camera not started yet
    LEFT = "left"  # the student left the room


@dataclass(frozen=True)
class StudentTile:
    """One student on the dashboard.

    ``expression``/``confidence`` come from the latest face within the presence timeout
    and are ``None`` otherwise, so a stale expression is never shown as current.
    ``trend`` holds the labels of the student's last samples, oldest first, ``None`` where
    no face was seen. ``facing`` is whether that latest face was turned to the screen
    (``None`` when absent or without a head pose).
    """

    student_id: str
    name: str
    presence: Presence
    expression: str | None
    confidence: float | None
    trend: tuple[str | None, ...]
    last_face_at: float | None
    facing: bool | None = None

    @property
    def present(self) -> bool:
        return self.presence is Presence.PRESENT


@dataclass(frozen=True)
class MoodWindow:
    """One bucket ``[start, end)`` of the "mood over time" chart and the report.

    ``shares`` averages each present student's mean probabilities over the bucket (``None``
    when no face was seen in it); ``joined`` counts students in the room at any time during
    the bucket and ``present`` those with at least one face in it. ``facing_share`` averages,
    over present students whose faces had a head pose, the share of their samples facing the
    screen (``None`` when none had one).
    """

    room: str
    start: float
    end: float
    shares: tuple[float, ...] | None
    joined: int
    present: int
    facing_share: float | None = None

    @property
    def dominant(self) -> str | None:
        return None if self.shares is None else EMOTIONS[int(np.argmax(self.shares))]

    @property
    def presence_rate(self) -> float | None:
        return None if self.joined == 0 else self.present / self.joined


class AlertKind(str, Enum):
    NEGATIVE_MOOD = "negative_mood"
    ABSENT = "absent"


@dataclass(frozen=True)
class Alert:
    """A class-level condition that held for most of the alert window.

    ``held_fraction`` is the share of the window's instants at which the condition held;
    ``value`` is the mean share (negative students, or absent students) over those instants.
    """

    kind: AlertKind
    time: float
    message: str
    held_fraction: float
    value: float


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _History:
    """One student's samples as sorted arrays, so each instant is a binary search."""

    student: Student
    times: np.ndarray  # (n,) all samples
    labels: tuple[str | None, ...]  # (n,) label per sample, None without a face
    face_times: np.ndarray  # (k,) samples with a face
    face_probs: np.ndarray  # (k, 7)
    face_facing: np.ndarray  # (k,) 1.0 facing, 0.0 turned away, NaN unknown
    lost: tuple[bool, ...] = ()  # (n,) whether each sample is a connection-lost heartbeat

    def in_room(self, t: np.ndarray) -> np.ndarray:
        left = math.inf if self.student.left_at is None else self.student.left_at
        return (t >= self.student.joined_at) & (t < left)

    def latest_face(self, t: np.ndarray, timeout: float) -> tuple[np.ndarray, np.ndarray]:
        """(present mask, index into face arrays) at each instant of ``t``."""
        if len(self.face_times) == 0:
            return np.zeros(t.shape, bool), np.zeros(t.shape, int)
        index = np.searchsorted(self.face_times, t, side="right") - 1
        safe = np.maximum(index, 0)
        present = (index >= 0) & (self.face_times[safe] > t - timeout) & self.in_room(t)
        return present, safe


def _histories(students: Iterable[Student], samples: Iterable[StudentSample]) -> list[_History]:
    roster = {s.id: s for s in students}
    grouped: dict[str, list[StudentSample]] = defaultdict(list)
    for sample in samples:
        student = roster.get(sample.student_id)
        # A sample of another room, or from outside the student's membership, is ignored:
        # rooms never leak into each other, and late samples after leaving do not count.
        if student is not None and sample.room == student.room and student.in_room_at(sample.time):
            grouped[sample.student_id].append(sample)
    histories = []
    for student in roster.values():
        own = sorted(grouped.get(student.id, ()), key=lambda s: s.time)
        faces = [s for s in own if s.probs is not None]
        histories.append(
            _History(
                student=student,
                times=np.array([s.time for s in own], float),
                labels=tuple(s.label for s in own),
                face_times=np.array([s.time for s in faces], float),
                face_probs=np.array([s.probs for s in faces], float).reshape(-1, len(EMOTIONS)),
                face_facing=np.array([np.nan if s.facing is None else float(s.facing) for s in faces], float),
                lost=tuple(s.lost for s in own),
            )
        )
    return histories


def _series(room: str, histories: list[_History], ticks: np.ndarray, timeout: float) -> list[ClassSnapshot]:
    n = len(ticks)
    joined = np.zeros(n, int)
    present = np.zeros(n, int)
    prob_sum = np.zeros((n, len(EMOTIONS)))
    counts = np.zeros((n, len(EMOTIONS)), int)
    facing = np.zeros(n, int)
    facing_known = np.zeros(n, int)
    for h in histories:
        joined += h.in_room(ticks)
        mask, index = h.latest_face(ticks, timeout)
        if not mask.any():
            continue
        present += mask
        probs = h.face_probs[index[mask]]
        prob_sum[mask] += probs
        counts[np.flatnonzero(mask), np.argmax(probs, axis=1)] += 1
        flags = h.face_facing[index[mask]]
        facing_known[mask] += ~np.isnan(flags)
        facing[mask] += flags == 1.0
    return [
        ClassSnapshot(
            room=room,
            time=float(ticks[i]),
            joined=int(joined[i]),
            present=int(present[i]),
            distribution=tuple(float(p) for p in prob_sum[i] / present[i]) if present[i] else None,
            label_counts=tuple(int(c) for c in counts[i]),
            facing=int(facing[i]),
            facing_known=int(facing_known[i]),
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------- public API


def class_snapshot(
    room: str, students: Sequence[Student], samples: Iterable[StudentSample], now: float, presence_timeout_s: float
) -> ClassSnapshot:
    """The class at ``now``; ``samples`` must reach back at least ``presence_timeout_s``."""
    return _series(room, _histories(students, samples), np.array([float(now)]), presence_timeout_s)[0]


def snapshot_series(
    room: str,
    students: Sequence[Student],
    samples: Iterable[StudentSample],
    start: float,
    end: float,
    step_s: float,
    presence_timeout_s: float,
) -> list[ClassSnapshot]:
    """Snapshots at ``start + step_s, start + 2*step_s, ... <= end`` (one pass over samples)."""
    if step_s <= 0:
        raise InputError(f"step_s must be > 0, got {step_s}")
    count = int(math.floor((end - start) / step_s + 1e-9))
    ticks = start + step_s * np.arange(1, count + 1)
    return _series(room, _histories(students, samples), ticks, presence_timeout_s)


def student_tiles(
    students: Sequence[Student],
    samples: Iterable[StudentSample],
    now: float,
    presence_timeout_s: float,
    trend_points: int = 20,
) -> list[StudentTile]:
    """One tile per student of ``students`` (in that order), as of ``now``."""
    tiles = []
    t = np.array([float(now)])
    for h in _histories(students, samples):
        upto = int(np.searchsorted(h.times, now, side="right"))
        present, index = h.latest_face(t, presence_timeout_s)
        expression = confidence = facing = None
        if not h.in_room(t)[0]:
            presence = Presence.LEFT
        elif present[0]:
            presence = Presence.PRESENT
            probs = h.face_probs[index[0]]
            expression, confidence = EMOTIONS[int(np.argmax(probs))], float(np.max(probs))
            flag = h.face_facing[index[0]]
            facing = None if np.isnan(flag) else bool(flag)
        elif upto and h.times[upto - 1] > now - presence_timeout_s:
            presence = Presence.LOST if h.lost[upto - 1] else Presence.NO_FACE
        else:
            presence = Presence.AWAY
        seen = h.face_times[h.face_times <= now]
        tiles.append(
            StudentTile(
                student_id=h.student.id,
                name=h.student.name,
                presence=presence,
                expression=expression,
                confidence=confidence,
                trend=h.labels[max(0, upto - trend_points) : upto],
                last_face_at=float(seen[-1]) if len(seen) else None,
                facing=facing,
            )
        )
    return tiles


def mood_windows(
    room: str,
    students: Sequence[Student],
    samples: Iterable[StudentSample],
    start: float,
    end: float,
    width_s: float,
) -> list[MoodWindow]:
    """Consecutive buckets ``[start + k*width_s, start + (k+1)*width_s)`` covering ``[start, end)``.

    Empty buckets are kept (``shares=None``) so a chart shows a gap instead of joining the
    points on either side of a time nobody was seen.
    """
    if width_s <= 0:
        raise InputError(f"width_s must be > 0, got {width_s}")
    histories = _histories(students, samples)
    count = max(0, int(math.ceil((end - start) / width_s - 1e-9)))
    windows = []
    for k in range(count):
        lo, hi = start + k * width_s, min(start + (k + 1) * width_s, end)
        joined = present = 0
        prob_sum = np.zeros(len(EMOTIONS))
        facing_shares = []
        for h in histories:
            left = math.inf if h.student.left_at is None else h.student.left_at
            if h.student.joined_at < hi and left > lo:
                joined += 1
            inside = (h.face_times >= lo) & (h.face_times < hi)
            if inside.any():
                present += 1
                prob_sum += h.face_probs[inside].mean(axis=0)
                flags = h.face_facing[inside]
                flags = flags[~np.isnan(flags)]
                if len(flags):
                    facing_shares.append(float(flags.mean()))
        shares = tuple(float(p) for p in prob_sum / present) if present else None
        facing_share = float(np.mean(facing_shares)) if facing_shares else None
        windows.append(MoodWindow(room=room, start=lo, end=hi, shares=shares, joined=joined, present=present,
                                  facing_share=facing_share))
    return windows


def evaluate_alerts(
    room: str,
    students: Sequence[Student],
    samples: Iterable[StudentSample],
    now: float,
    config: AlertConfig,
    presence_timeout_s: float,
    step_s: float = 1.0,
    active: Iterable[AlertKind] = (),
) -> list[Alert]:
    """The alerts standing at ``now``.

    Each condition is checked at every ``step_s`` over the last ``config.window_s``; an
    alert is raised when it held for at least ``config.hold_fraction`` of those instants,
    so a one-frame frown never alerts. Kinds in ``active`` (the alerts standing at the
    previous call) stay until the share drops below ``config.release_fraction``, so an
    alert does not blink on and off around the threshold. Instants before the room filled
    count as "not holding", so a room that opened ten seconds ago cannot alert "for the
    last minute". ``samples`` must reach back ``window_s + presence_timeout_s``.
    """
    active = set(active)
    series = snapshot_series(room, students, samples, now - config.window_s, now, step_s, presence_timeout_s)
    if not series:
        return []

    def negative(s: ClassSnapshot) -> float | None:
        if s.present < config.min_present or s.negative_share is None:
            return None
        return s.negative_share if s.negative_share >= config.negative_share else None

    def absent(s: ClassSnapshot) -> float | None:
        if s.joined == 0 or s.absent == 0:
            return None
        share = s.absent / s.joined
        return share if share >= config.absent_share else None

    current = series[-1]
    window = _duration(config.window_s)
    alerts = []
    for kind, condition in ((AlertKind.NEGATIVE_MOOD, negative), (AlertKind.ABSENT, absent)):
        held = [v for v in map(condition, series) if v is not None]
        fraction = len(held) / len(series)
        threshold = config.release_fraction if kind in active else config.hold_fraction
        if not held or fraction < threshold:
            continue
        value = float(np.mean(held))
        if kind is AlertKind.NEGATIVE_MOOD:
            message = (
                f"{round(100 * value)} % of the students present have looked negative "
                f"({', '.join(NEGATIVE_EMOTIONS)}) for most of the last {window}"
            )
        else:
            message = (
                f"{round(100 * value)} % of the students have been absent (no face seen) for most "
                f"of the last {window}; {current.absent} of {current.joined} are absent now"
            )
        alerts.append(Alert(kind=kind, time=float(now), message=message, held_fraction=fraction, value=value))
    return alerts


def _duration(seconds: float) -> str:
    if seconds == 60:
        return "minute"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} minutes"
    return f"{seconds:g} s"
