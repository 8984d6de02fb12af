"""Everything the teacher's dashboard shows at one instant, read from the store.

The dashboard refreshes every second. Re-reading a whole lecture's samples each second
would grow with the lecture, so :class:`MoodHistory` keeps the finished buckets of the
"mood over time" chart and reads only the samples of the unfinished ones. Everything else
(the class now, the tiles, the alerts) needs only the last ``window_s + presence_timeout``
seconds. The page keeps a :class:`MoodHistory` and the set of standing alerts in its
session; both can be lost at any time (a reload) and are rebuilt from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fer.classroom.aggregate import (
    Alert,
    AlertKind,
    ClassSnapshot,
    MoodWindow,
    StudentTile,
    class_snapshot,
    evaluate_alerts,
    mood_windows,
    student_tiles,
)
from fer.classroom.rooms import Room, Student
from fer.classroom.samples import Moment
from fer.classroom.store.base import Store
from fer.config import AppConfig

#: Buckets ending this long before now are taken as final: samples are written about once
#: a second, so a bucket older than this has received all of its samples.
SETTLE_S = 3.0


@dataclass
class MoodHistory:
    """The finished buckets of one room's mood chart, so each refresh reads only the tail."""

    room: str
    start: float
    width_s: float
    done: list[MoodWindow] = field(default_factory=list)

    @property
    def done_until(self) -> float:
        return self.done[-1].end if self.done else self.start

    def update(self, store: Store, students: list[Student], now: float) -> list[MoodWindow]:
        """All buckets from the lecture start to ``now`` (the last one may be partial)."""
        lo = self.done_until
        if now <= lo:
            return list(self.done)
        samples = store.samples(self.room, start=lo, end=now)
        fresh = mood_windows(self.room, students, samples, lo, now, self.width_s)
        settled = [w for w in fresh if w.end <= now - SETTLE_S and w.end - w.start >= self.width_s - 1e-9]
        self.done.extend(settled)
        return self.done + fresh[len(settled):]


@dataclass(frozen=True)
class DashboardView:
    """One refresh of the dashboard; ``alerts`` are the kinds standing now."""

    room: Room
    now: float
    students: list[Student]
    snapshot: ClassSnapshot
    tiles: list[StudentTile]
    windows: list[MoodWindow]
    alerts: list[Alert]
    moments: list[Moment]

    @property
    def active_alerts(self) -> set[AlertKind]:
        return {a.kind for a in self.alerts}


def dashboard_view(
    store: Store,
    room_code: str,
    config: AppConfig,
    now: float,
    history: MoodHistory | None = None,
    active: set[AlertKind] | frozenset = frozenset(),
) -> tuple[DashboardView, MoodHistory]:
    """Read the room from the store and aggregate it as of ``now``.

    Pass back the returned ``history`` and ``view.active_alerts`` on the next call: the
    first makes the chart cheap, the second keeps a standing alert from blinking.
    """
    room = store.get_room(room_code)
    if room.closed_at is not None:
        now = min(now, room.closed_at)
    if history is None or history.room != room.code or history.width_s != config.chart_window_s:
        history = MoodHistory(room=room.code, start=room.created_at, width_s=config.chart_window_s)
    students = store.students(room.code)
    reach = config.alerts.window_s + config.presence_timeout_s + 1.0
    recent = store.samples(room.code, start=now - reach, end=now + 1e-6)
    view = DashboardView(
        room=room,
        now=now,
        students=students,
        snapshot=class_snapshot(room.code, students, recent, now, config.presence_timeout_s),
        tiles=student_tiles(students, recent, now, config.presence_timeout_s, config.trend_points),
        windows=history.update(store, students, now),
        alerts=evaluate_alerts(
            room.code, students, recent, now, config.alerts, config.presence_timeout_s, active=active
        ),
        moments=store.moments(room.code),
    )
    return view, history
