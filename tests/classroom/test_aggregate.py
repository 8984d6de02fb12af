"""Class mood from samples: hand-computed snapshots, presence, tiles, windows and alerts."""

from __future__ import annotations

import numpy as np
import pytest

from fer.classroom.aggregate import (
    PRESENCE_RATE_DEFINITION,
    AlertKind,
    Presence,
    class_snapshot,
    evaluate_alerts,
    mood_windows,
    snapshot_series,
    student_tiles,
)
from fer.classroom.rooms import Student
from fer.classroom.samples import StudentSample
from fer.config import AlertConfig
from fer.emotions import EMOTIONS
from fer.errors import InputError

ROOM = "ABCD-EFGH"
TIMEOUT = 5.0


def probs(**shares: float) -> tuple[float, ...]:
    """A probability vector from named shares, e.g. ``probs(happy=0.8, neutral=0.2)``."""
    vector = [0.0] * len(EMOTIONS)
    for name, share in shares.items():
        vector[EMOTIONS.index(name)] = share
    return tuple(vector)


def student(sid: str, joined_at: float = 0.0, left_at: float | None = None, room: str = ROOM) -> Student:
    return Student(id=sid, room=room, name=sid.title(), joined_at=joined_at, left_at=left_at)


def sample(sid: str, t: float, p: tuple[float, ...] | None, room: str = ROOM, facing: bool | None = None) -> StudentSample:
    return StudentSample(room=room, student_id=sid, time=t, probs=p, facing=facing)


def share(vector, name: str) -> float:
    return vector[EMOTIONS.index(name)]


# --------------------------------------------------------------------------- samples


def test_a_sample_keeps_only_seven_numbers_and_checks_them():
    s = sample("a", 1, np.array([0.1, 0, 0, 0.6, 0.1, 0.1, 0.1], np.float32))
    assert isinstance(s.probs, tuple) and len(s.probs) == 7 and s.label == "happy"
    assert sample("a", 1, None).label is None and not sample("a", 1, None).has_face
    for bad in [(0.5, 0.5), probs(happy=2.0), probs(happy=0.5), (np.nan,) * 7, probs(happy=1.1, sad=-0.1)]:
        with pytest.raises(InputError):
            sample("a", 1, bad)


# --------------------------------------------------------------------------- snapshot


def test_snapshot_averages_the_present_students_by_hand():
    students = [student("a"), student("b"), student("c")]
    samples = [
        sample("a", 10, probs(happy=0.8, neutral=0.2)),
        sample("b", 10, probs(sad=0.6, neutral=0.4)),
        sample("c", 10, None),  # camera on, no face: joined but not present
    ]
    snap = class_snapshot(ROOM, students, samples, now=10, presence_timeout_s=TIMEOUT)
    assert (snap.joined, snap.present, snap.absent) == (3, 2, 1)
    assert np.allclose(snap.distribution, probs(happy=0.4, sad=0.3, neutral=0.3))
    assert snap.dominant == "happy"
    assert share(snap.label_counts, "happy") == 1 and share(snap.label_counts, "sad") == 1
    assert snap.presence_rate == pytest.approx(2 / 3)
    assert snap.negative_share == pytest.approx(0.5)


def test_each_present_student_weighs_the_same_however_many_samples_they_sent():
    students = [student("a"), student("b")]
    samples = [sample("a", t, probs(happy=1.0)) for t in (6, 7, 8, 9, 10)] + [sample("b", 9, probs(sad=1.0))]
    snap = class_snapshot(ROOM, students, samples, now=10, presence_timeout_s=TIMEOUT)
    assert np.allclose(snap.distribution, probs(happy=0.5, sad=0.5))


def test_the_current_expression_is_the_latest_face_not_an_average_over_time():
    samples = [sample("a", 8, probs(sad=1.0)), sample("a", 9, probs(happy=1.0))]
    snap = class_snapshot(ROOM, [student("a")], samples, now=10, presence_timeout_s=TIMEOUT)
    assert snap.dominant == "happy"


def test_a_student_stays_present_until_the_timeout_after_the_last_face():
    students = [student("a")]
    samples = [sample("a", 10, probs(happy=1.0)), sample("a", 12, None), sample("a", 14, None)]
    assert class_snapshot(ROOM, students, samples, 14.9, TIMEOUT).present == 1
    late = class_snapshot(ROOM, students, samples, 15.0, TIMEOUT)
    assert (late.present, late.absent, late.distribution, late.dominant) == (0, 1, None, None)
    assert late.presence_rate == 0 and late.negative_share is None


def test_future_samples_do_not_count_in_a_snapshot():
    samples = [sample("a", 20, probs(happy=1.0))]
    assert class_snapshot(ROOM, [student("a")], samples, 10, TIMEOUT).present == 0


def test_students_who_left_or_had_not_joined_are_not_counted():
    students = [student("a", joined_at=0, left_at=8), student("b", joined_at=0), student("c", joined_at=20)]
    samples = [sample("a", 7, probs(sad=1.0)), sample("b", 9, probs(happy=1.0))]
    snap = class_snapshot(ROOM, students, samples, 10, TIMEOUT)
    assert (snap.joined, snap.present) == (1, 1)
    assert np.allclose(snap.distribution, probs(happy=1.0))


def test_samples_of_another_room_never_leak_into_a_snapshot():
    students = [student("a")]
    samples = [sample("a", 9, probs(happy=1.0)), sample("a", 9.5, probs(sad=1.0), room="ZZZZ-ZZZZ")]
    snap = class_snapshot(ROOM, students, samples, 10, TIMEOUT)
    assert snap.dominant == "happy"


def test_an_empty_room_has_no_mood_and_no_presence_rate():
    snap = class_snapshot(ROOM, [], [], 10, TIMEOUT)
    assert (snap.joined, snap.present, snap.distribution, snap.presence_rate) == (0, 0, None, None)
    assert "not attention" in PRESENCE_RATE_DEFINITION


def test_snapshot_series_matches_snapshots_taken_one_by_one():
    rng = np.random.default_rng(0)
    students = [student("a"), student("b", joined_at=3), student("c", left_at=12)]
    samples = []
    for sid in "abc":
        for t in np.arange(0, 20, 1.0) + rng.uniform(0, 0.5):
            p = rng.dirichlet(np.ones(7)) if rng.random() > 0.3 else None
            samples.append(sample(sid, t, p))
    series = snapshot_series(ROOM, students, samples, 0, 20, 2.0, TIMEOUT)
    assert [s.time for s in series] == list(np.arange(2, 21, 2.0))
    for snap in series:
        single = class_snapshot(ROOM, students, samples, snap.time, TIMEOUT)
        assert (snap.joined, snap.present, snap.label_counts) == (single.joined, single.present, single.label_counts)
        assert (snap.distribution is None) == (single.distribution is None)
        if snap.distribution is not None:
            assert np.allclose(snap.distribution, single.distribution)
            assert sum(snap.distribution) == pytest.approx(1.0)


# --------------------------------------------------------------------------- tiles


def test_tiles_tell_present_no_face_away_and_left_apart():
    students = [student("p"), student("n"), student("w"), student("l", left_at=9)]
    samples = [
        sample("p", 9, probs(surprise=0.7, happy=0.3)),
        sample("n", 6, probs(happy=1.0)),
        sample("n", 9, None),
        sample("w", 2, probs(happy=1.0)),
        sample("l", 8, probs(happy=1.0)),
    ]
    tiles = {t.student_id: t for t in student_tiles(students, samples, now=12, presence_timeout_s=TIMEOUT)}
    assert tiles["p"].presence is Presence.PRESENT and tiles["p"].present
    assert (tiles["p"].expression, tiles["p"].confidence) == ("surprise", pytest.approx(0.7))
    assert tiles["n"].presence is Presence.NO_FACE and tiles["n"].expression is None
    assert tiles["w"].presence is Presence.AWAY and tiles["w"].last_face_at == 2
    assert tiles["l"].presence is Presence.LEFT
    assert tiles["p"].name == "P"


def test_a_tile_says_connection_lost_while_heartbeats_say_so_and_no_video_after_they_stop():
    students = [student("c")]
    samples = [
        sample("c", 2, probs(happy=1.0)),
        StudentSample(ROOM, "c", 9, None, lost=True),  # the page's heartbeat: reconnecting
    ]
    (tile,) = student_tiles(students, samples, now=12, presence_timeout_s=TIMEOUT)
    assert tile.presence is Presence.LOST and not tile.present and tile.last_face_at == 2
    (later,) = student_tiles(students, samples, now=30, presence_timeout_s=TIMEOUT)
    assert later.presence is Presence.AWAY  # the page went too: no heartbeat, no video
    back = samples + [sample("c", 13, probs(sad=1.0))]
    (tile,) = student_tiles(students, back, now=14, presence_timeout_s=TIMEOUT)
    assert tile.presence is Presence.PRESENT and tile.expression == "sad"
    assert class_snapshot(ROOM, students, samples, 12, TIMEOUT).present == 0


def test_a_tile_trend_holds_the_last_n_labels_oldest_first():
    samples = [sample("a", t, probs(happy=1.0) if t % 2 else None) for t in range(10)]
    (tile,) = student_tiles([student("a")], samples, now=9, presence_timeout_s=TIMEOUT, trend_points=4)
    assert tile.trend == (None, "happy", None, "happy")


def test_tiles_keep_the_roster_order_and_include_students_without_samples():
    tiles = student_tiles([student("b"), student("a")], [], now=5, presence_timeout_s=TIMEOUT)
    assert [t.student_id for t in tiles] == ["b", "a"]
    assert all(t.presence is Presence.AWAY and t.trend == () for t in tiles)


# --------------------------------------------------------------------------- windows


def test_windows_average_students_then_class_and_keep_empty_buckets():
    students = [student("a"), student("b"), student("c", joined_at=12)]
    samples = [
        # bucket [0, 5): a happy twice and neutral once -> a's mean (2/3 happy, 1/3 neutral); b sad.
        sample("a", 1, probs(happy=1.0)),
        sample("a", 2, probs(happy=1.0)),
        sample("a", 3, probs(neutral=1.0)),
        sample("b", 4, probs(sad=1.0)),
        sample("b", 4.5, None),
        # bucket [5, 10): nobody seen.
        # bucket [10, 15): c only.
        sample("c", 14.9, probs(fear=1.0)),
    ]
    windows = mood_windows(ROOM, students, samples, start=0, end=15, width_s=5)
    assert [(w.start, w.end) for w in windows] == [(0, 5), (5, 10), (10, 15)]
    first, empty, last = windows
    assert np.allclose(first.shares, probs(happy=1 / 3, neutral=1 / 6, sad=0.5))
    assert (first.joined, first.present, first.presence_rate, first.dominant) == (2, 2, 1.0, "sad")
    assert (empty.shares, empty.dominant, empty.joined, empty.present) == (None, None, 2, 0)
    assert np.allclose(last.shares, probs(fear=1.0))
    assert (last.joined, last.present) == (3, 1) and last.presence_rate == pytest.approx(1 / 3)


def test_the_last_window_is_cut_at_the_end_time():
    windows = mood_windows(ROOM, [student("a")], [], start=0, end=65, width_s=30)
    assert [(w.start, w.end) for w in windows] == [(0, 30), (30, 60), (60, 65)]


def test_window_width_must_be_positive():
    with pytest.raises(InputError):
        mood_windows(ROOM, [], [], 0, 10, 0)


# --------------------------------------------------------------------------- alerts

ALERTS = AlertConfig(window_s=60, hold_fraction=0.8, release_fraction=0.5, negative_share=0.4, absent_share=0.25, min_present=3)


def classroom(n: int, moods, start: float = 0.0, end: float = 120.0):
    """``n`` students sampled every second; ``moods(student_index, t)`` gives probs or None."""
    students = [student(f"s{i}", joined_at=start) for i in range(n)]
    samples = [
        sample(f"s{i}", t, moods(i, t)) for i in range(n) for t in np.arange(start + 0.5, end, 1.0)
    ]
    return students, samples


def alerts_at(students, samples, now=120.0, active=()):
    return evaluate_alerts(ROOM, students, samples, now, ALERTS, TIMEOUT, step_s=1.0, active=active)


def test_a_sustained_negative_mood_raises_an_alert_with_its_share():
    students, samples = classroom(4, lambda i, t: probs(sad=0.9, neutral=0.1) if i < 2 else probs(happy=1.0))
    (alert,) = alerts_at(students, samples)
    assert alert.kind is AlertKind.NEGATIVE_MOOD
    assert alert.held_fraction == 1.0 and alert.value == pytest.approx(0.5)
    assert "50 %" in alert.message and "last minute" in alert.message


def test_flickering_frowns_make_no_alert():
    # Two of four students look sad for one second in every three: 33 % of the window.
    students, samples = classroom(4, lambda i, t: probs(sad=1.0) if i < 2 and int(t) % 3 == 0 else probs(happy=1.0))
    assert alerts_at(students, samples) == []


def test_an_alert_near_the_threshold_stays_once_raised_but_is_not_raised_anew():
    # Negative during 70 % of the window: below hold (80 %), above release (50 %).
    students, samples = classroom(4, lambda i, t: probs(sad=1.0) if i < 2 and int(t) % 10 < 7 else probs(happy=1.0))
    assert alerts_at(students, samples) == []
    (kept,) = alerts_at(students, samples, active={AlertKind.NEGATIVE_MOOD})
    assert kept.kind is AlertKind.NEGATIVE_MOOD and kept.held_fraction == pytest.approx(0.7)


def test_an_active_alert_is_released_when_the_condition_mostly_stopped():
    students, samples = classroom(4, lambda i, t: probs(sad=1.0) if i < 2 and int(t) % 10 < 3 else probs(happy=1.0))
    assert alerts_at(students, samples, active={AlertKind.NEGATIVE_MOOD}) == []


def test_too_few_present_students_never_make_a_mood_alert():
    students, samples = classroom(2, lambda i, t: probs(angry=1.0))
    assert alerts_at(students, samples) == []


def test_a_room_opened_seconds_ago_cannot_alert_about_the_last_minute():
    students, samples = classroom(4, lambda i, t: probs(sad=1.0), start=100.0)
    assert alerts_at(students, samples) == []


def test_students_absent_for_most_of_the_window_raise_an_absent_alert():
    students, samples = classroom(4, lambda i, t: None if i == 0 else probs(happy=1.0))
    (alert,) = alerts_at(students, samples)
    assert alert.kind is AlertKind.ABSENT
    assert alert.value == pytest.approx(0.25)
    assert "1 of 4 are absent now" in alert.message


def test_a_short_absence_makes_no_alert():
    # One student steps away for 20 s of the minute.
    students, samples = classroom(4, lambda i, t: None if i == 0 and 80 <= t < 100 else probs(happy=1.0))
    assert alerts_at(students, samples) == []


def test_a_disconnected_student_without_samples_counts_as_absent():
    students, samples = classroom(4, lambda i, t: probs(happy=1.0))
    samples = [s for s in samples if not (s.student_id == "s0" and s.time > 50)]
    (alert,) = alerts_at(students, samples)
    assert alert.kind is AlertKind.ABSENT


# --------------------------------------------------------------------------- facing the screen


def test_a_sample_says_facing_only_with_a_face():
    assert sample("a", 1.0, probs(happy=1.0), facing=True).facing is True
    with pytest.raises(InputError, match="without a face"):
        sample("a", 1.0, None, facing=False)
    with pytest.raises(InputError, match="facing"):
        StudentSample(room=ROOM, student_id="a", time=1.0, probs=probs(happy=1.0), facing="yes")


def test_the_facing_share_counts_present_students_with_a_head_pose_by_hand():

    students = [student("a"), student("b"), student("c"), student("d")]
    samples = [
        sample("a", 9.0, probs(happy=1.0), facing=True),
        sample("b", 9.0, probs(sad=1.0), facing=False),
        sample("b", 9.5, probs(sad=1.0), facing=True),  # the latest face counts
        sample("c", 9.5, probs(neutral=1.0), facing=False),
        sample("d", 9.5, probs(neutral=1.0)),  # no head pose (a detector without landmarks)
    ]
    snap = class_snapshot(ROOM, students, samples, now=10.0, presence_timeout_s=5.0)
    assert (snap.present, snap.facing, snap.facing_known) == (4, 2, 3)
    assert snap.facing_share == pytest.approx(2 / 3)


def test_without_any_head_pose_there_is_no_facing_share():

    snap = class_snapshot(ROOM, [student("a")], [sample("a", 9.0, probs(happy=1.0))], 10.0, 5.0)
    assert snap.present == 1 and snap.facing_share is None


def test_tiles_say_facing_or_turned_away_only_while_present():

    students = [student("a"), student("b"), student("c")]
    samples = [sample("a", 9.0, probs(happy=1.0), facing=True), sample("b", 9.0, probs(happy=1.0), facing=False),
               sample("c", 1.0, probs(happy=1.0), facing=True)]
    tiles = student_tiles(students, samples, now=10.0, presence_timeout_s=5.0)
    assert [t.facing for t in tiles] == [True, False, None]  # c's face is too old: absent, nothing said


def test_windows_average_each_students_facing_share_then_the_class():

    students = [student("a"), student("b"), student("c")]
    samples = [
        sample("a", 1.0, probs(happy=1.0), facing=True),
        sample("a", 2.0, probs(happy=1.0), facing=True),
        sample("a", 3.0, probs(happy=1.0), facing=True),
        sample("b", 1.0, probs(happy=1.0), facing=False),  # b: 1 of 4 samples facing
        sample("b", 2.0, probs(happy=1.0), facing=False),
        sample("b", 3.0, probs(happy=1.0), facing=False),
        sample("b", 4.0, probs(happy=1.0), facing=True),
        sample("c", 2.0, probs(happy=1.0)),  # present, no head pose: not in the share
        sample("a", 12.0, probs(happy=1.0)),
    ]
    first, second = mood_windows(ROOM, students, samples, 0.0, 20.0, 10.0)
    assert first.present == 3 and first.facing_share == pytest.approx((1.0 + 0.25) / 2)
    assert second.present == 1 and second.facing_share is None
