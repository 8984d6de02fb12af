"""The session report: a lecture's aggregated numbers, as a record, CSV, JSON and PNG.

Only aggregated numbers leave the app here: time buckets of the class mood, presence
counts and the marked moments. No per-student row is exported, because a report that
ranks students by expression is exactly the use ClassMood refuses (see the landing page).

A bucket with only one or two present students would still be those students' own data
("the class mood" of one face is that face), so the report hides the emotion mix of every
bucket with fewer than ``min_present`` present students (k-anonymity), and its share facing
the screen: its counts stay, its shares are empty and ``mix_hidden`` says why. Text cells of the CSV that a spreadsheet would
run as a formula (``=``, ``+``, ``-``, ``@``) are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, replace

import numpy as np

from fer.charts import mix_timeline_png
from fer.classroom.aggregate import FACING_DEFINITION, PRESENCE_RATE_DEFINITION, MoodWindow, mood_windows
from fer.classroom.rooms import Room
from fer.classroom.samples import Moment
from fer.classroom.store.base import Store
from fer.emotions import EMOTIONS


@dataclass(frozen=True)
class SessionReport:
    """A lecture from its start to ``end`` (its close, or now while it runs).

    ``shares`` is the mean of the buckets' class mood over the buckets in which any face
    was seen (``None`` when no face was ever seen); ``students`` counts everyone who joined.
    """

    room: Room
    end: float
    width_s: float
    windows: list[MoodWindow]
    moments: list[Moment]
    students: int
    #: Buckets with fewer present students than this have their mix hidden.
    min_present: int = 3
    #: Start times of the buckets whose mix was hidden.
    hidden: frozenset[float] = frozenset()

    @property
    def shares(self) -> tuple[float, ...] | None:
        seen = [w.shares for w in self.windows if w.shares is not None]
        return tuple(float(v) for v in np.mean(seen, axis=0)) if seen else None

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.room.created_at)

    def to_rows(self) -> list[dict]:
        """One row per bucket; times in seconds since the lecture started."""
        rows = []
        for w in self.windows:
            row = {
                "start_s": round(w.start - self.room.created_at, 3),
                "end_s": round(w.end - self.room.created_at, 3),
                "joined": w.joined,
                "present": w.present,
                "presence_rate": None if w.presence_rate is None else round(w.presence_rate, 4),
                "facing_share": None if w.facing_share is None else round(w.facing_share, 4),
                "dominant": w.dominant,
                "mix_hidden": w.start in self.hidden,
            }
            for i, name in enumerate(EMOTIONS):
                row[name] = None if w.shares is None else round(w.shares[i], 5)
            rows.append(row)
        return rows

    def to_csv(self) -> str:
        out = io.StringIO()
        fields = ["start_s", "end_s", "joined", "present", "presence_rate", "facing_share", "dominant", "mix_hidden",
                  *EMOTIONS]
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in self.to_rows():
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
        return out.getvalue()

    def to_dict(self) -> dict:
        shares = self.shares
        return {
            "room": self.room.code,
            "lecture": self.room.lecture,
            "started_at": self.room.created_at,
            "ended_at": self.room.closed_at,
            "duration_s": round(self.duration_s, 3),
            "students_joined": self.students,
            "bucket_s": self.width_s,
            "min_present_for_mix": self.min_present,
            "emotions": list(EMOTIONS),
            "emotion_shares": None if shares is None else {n: round(s, 5) for n, s in zip(EMOTIONS, shares)},
            "presence_rate_definition": PRESENCE_RATE_DEFINITION,
            "facing_share_definition": FACING_DEFINITION,
            "moments": [
                {"time_s": round(m.time - self.room.created_at, 3), "label": m.label} for m in self.moments
            ],
            "timeline": self.to_rows(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_png(self) -> bytes:
        """Mood over time (stacked shares, gaps where no face was seen) above presence rate,
        moments as vertical lines; minutes since the lecture started."""
        t0 = self.room.created_at
        return mix_timeline_png(
            [((w.start + w.end) / 2 - t0) / 60.0 for w in self.windows],
            [w.shares for w in self.windows],
            title=f"{self.room.lecture} ({self.room.code}): class mood over time",
            xlabel="minutes since start",
            presence=[w.presence_rate for w in self.windows],
            marks=[((m.time - t0) / 60.0, m.label) for m in self.moments],
        )


def csv_cell(value) -> object:
    """A CSV cell a spreadsheet shows as text: ``None`` is empty, and text starting with
    ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) gets a leading apostrophe so
    that it is never run as a formula (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def hide_small_buckets(windows: list[MoodWindow], min_present: int) -> tuple[list[MoodWindow], frozenset[float]]:
    """``windows`` with the mix (and the share facing the screen) of every bucket of fewer than
    ``min_present`` present students removed, and the start times of those buckets."""
    hidden = frozenset(w.start for w in windows if w.shares is not None and w.present < min_present)
    return [replace(w, shares=None, facing_share=None) if w.start in hidden else w for w in windows], hidden


def session_report(store: Store, room_code: str, width_s: float, now: float, min_present: int = 3) -> SessionReport:
    """The report of a room as of ``now`` (or its close time, when it has ended)."""
    room = store.get_room(room_code)
    end = now if room.closed_at is None else room.closed_at
    students = store.students(room.code)
    samples = store.samples(room.code, start=room.created_at, end=end + 1e-6)
    windows, hidden = hide_small_buckets(mood_windows(room.code, students, samples, room.created_at, end, width_s), min_present)
    return SessionReport(
        room=room, end=end, width_s=width_s, windows=windows, moments=store.moments(room.code), students=len(students),
        min_present=min_present, hidden=hidden,
    )
