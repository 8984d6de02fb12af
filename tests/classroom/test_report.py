"""fer.classroom.report and fer.classroom.dashboard: a lecture's numbers from the store, and their exports."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from fer.classroom.aggregate import AlertKind
from fer.classroom.dashboard import dashboard_view
from fer.classroom.report import hide_small_buckets, session_report
from fer.classroom.samples import StudentSample
from fer.classroom.store.sqlite import SQLiteStore
from fer.config import AlertConfig, AppConfig
from fer.emotions import EMOTIONS


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def probs(label: str) -> tuple[float, ...]:
    p = np.full(len(EMOTIONS), 0.05)
    p[EMOTIONS.index(label)] = 0.7
    return tuple(p)


@pytest.fixture
def lecture(tmp_path):
    """A 2-minute lecture: 4 students, 3 happy then sad from minute 1, one never seen."""
    clock = Clock()
    store = SQLiteStore(tmp_path, clock=clock)
    code, key = store.create_room("Physics")
    students = [store.join(code, name) for name in ("Ann", "Bo", "Cy", "Di")]
    start = clock.t
    for s in range(120):
        label = "happy" if s < 60 else "sad"
        store.record([StudentSample(code, st.id, start + s + 0.5, probs(label)) for st in students[:3]])
    store.add_moment(code, "quiz starts", at=start + 60)
    clock.t = start + 120
    yield store, code, start
    store.close()


def test_report_buckets_shares_and_moments_follow_the_lecture(lecture):
    store, code, start = lecture
    report = session_report(store, code, width_s=30, now=start + 120)
    assert len(report.windows) == 4 and report.students == 4
    assert [w.dominant for w in report.windows] == ["happy", "happy", "sad", "sad"]
    assert all(w.presence_rate == pytest.approx(0.75) for w in report.windows)
    shares = dict(zip(EMOTIONS, report.shares))
    assert shares["happy"] == pytest.approx(shares["sad"])
    assert [m.label for m in report.moments] == ["quiz starts"]


def test_report_exports_csv_json_and_a_png_in_memory(lecture, tmp_path):
    store, code, start = lecture
    report = session_report(store, code, width_s=30, now=start + 120)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == 4 and rows[0]["dominant"] == "happy" and rows[0]["present"] == "3"
    data = json.loads(report.to_json())
    assert data["moments"] == [{"time_s": 60.0, "label": "quiz starts"}]
    assert data["students_joined"] == 4 and "Presence rate" in data["presence_rate_definition"]
    assert "Ann" not in report.to_json()  # aggregated numbers only, no student rows
    png = report.to_png()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_report_of_a_closed_lecture_stops_at_its_close(lecture):
    store, code, start = lecture
    store.close_room(code)
    report = session_report(store, code, width_s=30, now=start + 10_000)
    assert report.end == start + 120 and len(report.windows) == 4


def test_dashboard_view_counts_the_class_and_reuses_finished_buckets(lecture):
    store, code, start = lecture
    config = AppConfig(chart_window_s=10, alerts=AlertConfig(window_s=30, min_present=3))
    view, history = dashboard_view(store, code, config, now=start + 120)
    assert (view.snapshot.joined, view.snapshot.present) == (4, 3)
    assert [t.name for t in view.tiles] == ["Ann", "Bo", "Cy", "Di"]
    assert len(view.windows) == 12 and len(history.done) == 11  # the newest bucket is not final yet
    assert AlertKind.NEGATIVE_MOOD in view.active_alerts  # 3 of 3 sad for the last 30 s
    again, _ = dashboard_view(store, code, config, now=start + 121, history=history, active=view.active_alerts)
    assert again.windows[:11] == view.windows[:11]


def test_dashboard_of_another_room_shows_none_of_this_rooms_students(lecture):
    store, code, start = lecture
    other, _ = store.create_room("Chemistry")
    view, _ = dashboard_view(store, other, AppConfig(), now=start + 120)
    assert view.snapshot.joined == 0 and view.tiles == [] and view.snapshot.distribution is None


def test_buckets_of_fewer_present_students_than_the_minimum_lose_their_mix_only():
    from fer.classroom.aggregate import MoodWindow

    mix = tuple(1 / len(EMOTIONS) for _ in EMOTIONS)
    windows = [MoodWindow("R", 0, 30, mix, 4, 3, 1.0), MoodWindow("R", 30, 60, mix, 4, 2, 0.5),
               MoodWindow("R", 60, 90, None, 4, 0)]
    kept, hidden = hide_small_buckets(windows, min_present=3)
    assert hidden == frozenset({30})
    assert [w.shares is None for w in kept] == [False, True, True]
    assert [w.facing_share for w in kept] == [1.0, None, None]
    assert [(w.joined, w.present) for w in kept] == [(4, 3), (4, 2), (4, 0)]  # the counts stay


def test_the_report_and_the_dashboard_carry_the_share_facing_the_screen(tmp_path):
    clock = Clock()
    store = SQLiteStore(tmp_path, clock=clock)
    code, _ = store.create_room("Physics")
    ann, bo, cy = store.join(code, "Ann"), store.join(code, "Bo"), store.join(code, "Cy")
    start = clock.t
    for s in range(60):  # Ann and Cy face the screen throughout; Bo only in the second half minute
        store.record([StudentSample(code, ann.id, start + s + 0.5, probs("happy"), facing=True),
                      StudentSample(code, bo.id, start + s + 0.5, probs("happy"), facing=s >= 30),
                      StudentSample(code, cy.id, start + s + 0.5, probs("happy"), facing=True)])
    clock.t = start + 60
    report = session_report(store, code, width_s=30, now=start + 60)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [float(r["facing_share"]) for r in rows] == [pytest.approx(2 / 3, abs=1e-4), pytest.approx(1.0)]
    assert "Facing is not attention" in json.loads(report.to_json())["facing_share_definition"]
    view, _ = dashboard_view(store, code, AppConfig(data_dir=tmp_path), now=start + 20)
    assert view.snapshot.facing_share == pytest.approx(2 / 3)
    assert [t.facing for t in view.tiles] == [True, False, True]
    store.close()
