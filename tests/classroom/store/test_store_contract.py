"""The store: round trips, room separation, durability, concurrency and failure modes.

The ``store`` fixture is parametrized over backends: SQLite, Redis (a real ``redis-server``,
skipped where none is installed) and Redis behind the write-behind buffer, which is what
``open_store`` hands the app, so every backend keeps the same contract. Tests about the
SQLite file itself use ``sqlite_store``; Redis specifics live in ``test_store_redis.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from fer.classroom.aggregate import class_snapshot
from fer.classroom.rooms import (
    InvalidNameError,
    NameTakenError,
    RoomClosedError,
    RoomLockedError,
    StudentLeftError,
    StudentRemovedError,
    UnknownRoomError,
    UnknownStudentError,
)
from fer.classroom.samples import Moment, StudentSample
from fer.classroom.store.base import StorageUnavailableError, Store, StoreError
from fer.classroom.store.factory import open_store
from fer.classroom.store.sqlite import SQLiteStore
from fer.config import AppConfig
from fer.emotions import EMOTIONS

ROOT = Path(__file__).resolve().parents[3]


class Clock:
    """A settable clock, so join/leave/close times are exact in assertions."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_sqlite(request, path: Path, clock: Clock) -> Callable[[], Store]:
    return lambda: SQLiteStore(path, clock=clock)


def make_redis(request, path: Path, clock: Clock) -> Callable[[], Store]:
    from fer.classroom.store.redis import RedisStore

    url = request.getfixturevalue("redis_url")  # an emptied database of a real server
    return lambda: RedisStore(url, clock=clock)


def make_buffered_redis(request, path: Path, clock: Clock) -> Callable[[], Store]:
    from fer.classroom.store.buffer import BufferedStore

    open_redis = make_redis(request, path, clock)
    return lambda: BufferedStore(open_redis())


#: name -> factory(request, data folder, clock) returning an opener of that backend, which
#: opens the same data on every call, as another process would.
BACKENDS = {"sqlite": make_sqlite, "redis": make_redis, "buffered-redis": make_buffered_redis}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path, clock):
    """A factory opening the backend on the same data each call, as a new process would."""
    opened: list[Store] = []
    opener = BACKENDS[request.param](request, tmp_path / "data", clock)

    def open_again() -> Store:
        store = opener()
        opened.append(store)
        return store

    yield open_again
    for store in opened:
        store.close()


@pytest.fixture
def store(backend) -> Store:
    return backend()


@pytest.fixture
def sqlite_store(tmp_path, clock):
    with SQLiteStore(tmp_path / "data", clock=clock) as store:
        yield store


def probs(seed: int) -> tuple[float, ...]:
    return tuple(np.random.default_rng(seed).dirichlet(np.ones(len(EMOTIONS))).tolist())


# --------------------------------------------------------------------------- rooms and students


def test_a_created_room_reads_back_open(store, clock):
    code, key = store.create_room("  Linear   algebra ")
    room = store.get_room(code)
    assert (room.code, room.lecture, room.created_at, room.closed_at, room.is_open) == (
        code, "Linear algebra", 1000.0, None, True
    )
    assert store.get_room(code.lower().replace("-", "")) == room
    assert store.verify_teacher(code, key)


def test_unknown_rooms_and_students_are_reported(store):
    with pytest.raises(UnknownRoomError):
        store.get_room("ABCD-EFGH")
    with pytest.raises(UnknownRoomError):
        store.students("ABCD-EFGH")
    with pytest.raises(UnknownStudentError):
        store.get_student("nobody")
    with pytest.raises(UnknownStudentError):
        store.leave("nobody")


def test_students_join_and_leave(store, clock):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    clock.now = 1005
    bob = store.join(code.lower(), "Bob")
    assert ada.id != bob.id and bob.room == code and bob.joined_at == 1005
    clock.now = 1010
    left = store.leave(ada.id)
    assert left.left_at == 1010
    clock.now = 1020
    assert store.leave(ada.id).left_at == 1010  # leaving twice keeps the first time
    assert [s.name for s in store.students(code)] == ["Ada", "Bob"]
    assert [s.name for s in store.students(code, include_left=False)] == ["Bob"]
    assert store.get_student(bob.id) == bob


def test_a_display_name_is_unique_among_the_students_present(store):
    code, _ = store.create_room("Algebra")
    alex = store.join(code, "Alex")
    with pytest.raises(NameTakenError, match="already called"):
        store.join(code, " alex ")  # the same name, typed differently
    other, _ = store.create_room("Biology")
    store.join(other, "Alex")  # another room is another class
    store.leave(alex.id)
    assert store.join(code, "Alex").id != alex.id  # a name is free again once its holder left


def test_consent_is_stored_with_its_time_and_text_version(store, clock):
    code, _ = store.create_room("Algebra")
    clock.now = 1234.5
    ada = store.join(code, "Ada", consent_version="2026-12-03")
    assert store.get_student(ada.id).consent_version == "2026-12-03"
    assert store.get_student(ada.id).consent_at == 1234.5
    assert store.students(code)[0].consent_version == "2026-12-03"


def test_a_resume_token_resumes_only_its_student_while_they_are_in_the_room(store):
    code, _ = store.create_room("Algebra")
    ada, bob = store.join(code, "Ada"), store.join(code, "Bob")
    token = store.issue_resume_token(ada.id)
    assert token != ada.id and ada.id not in token
    assert store.resume(token).id == ada.id
    for guess in (ada.id, "", "x" * 43):
        with pytest.raises(UnknownStudentError):
            store.resume(guess)
    newer = store.issue_resume_token(ada.id)  # a new token replaces the old one
    with pytest.raises(UnknownStudentError):
        store.resume(token)
    store.leave(ada.id)
    with pytest.raises(UnknownStudentError):
        store.resume(newer)
    bob_token = store.issue_resume_token(bob.id)
    store.close_room(code)
    with pytest.raises(UnknownStudentError):
        store.resume(bob_token)


def test_a_removed_student_is_out_and_their_stream_is_refused(store, clock):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    token = store.issue_resume_token(ada.id)
    clock.now = 1100
    removed = store.remove_student(ada.id)
    assert removed.left_at == 1100 and removed.removed_at == 1100
    with pytest.raises(UnknownStudentError):
        store.resume(token)
    with pytest.raises(StudentRemovedError, match="removed"):
        store.record_sample(StudentSample(code, ada.id, 1101, probs(0)))


def test_a_locked_room_refuses_new_students_until_unlocked(store):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    assert store.set_locked(code, True).locked
    with pytest.raises(RoomLockedError, match="locked"):
        store.join(code, "Bob")
    store.record_sample(StudentSample(code, ada.id, 1001, probs(0)))  # those inside stay
    assert not store.set_locked(code, False).locked
    store.join(code, "Bob")


def test_teacher_sessions_expire_end_and_die_with_a_rotated_key(store, clock):
    code, key = store.create_room("Algebra")
    token = store.open_teacher_session(code, ttl_s=100)
    assert store.teacher_session(token).code == code
    assert store.teacher_session("not a token") is None and store.teacher_session(key) is None
    clock.now += 101
    assert store.teacher_session(token) is None  # expired
    first, second = store.open_teacher_session(code, 100), store.open_teacher_session(code, 100)
    store.end_teacher_session(first)
    assert store.teacher_session(first) is None and store.teacher_session(second).code == code
    new_key = store.rotate_teacher_key(code)
    assert store.teacher_session(second) is None
    assert not store.verify_teacher(code, key) and store.verify_teacher(code, new_key)
    store.delete_room(code)
    assert store.teacher_session(store.open_teacher_session(store.create_room("B")[0], 100)) is not None


def test_a_student_deletes_their_own_numbers_and_the_class_keeps_the_rest(store):
    code, _ = store.create_room("Algebra")
    ada, bob = store.join(code, "Ada"), store.join(code, "Bob")
    store.record([StudentSample(code, ada.id, 1001, probs(1)), StudentSample(code, bob.id, 1001, probs(2))])
    store.delete_student_data(ada.id)
    assert [s.student_id for s in store.samples(code)] == [bob.id]
    assert [s.name for s in store.students(code)] == ["Bob"]
    with pytest.raises(UnknownStudentError):
        store.get_student(ada.id)


def test_rooms_past_their_retention_are_purged_and_younger_ones_kept(backend, clock):
    store = backend()
    old, _ = store.create_room("Old lecture")
    ada = store.join(old, "Ada")
    store.record_sample(StudentSample(old, ada.id, 1001, probs(1)))
    store.add_moment(old, "quiz")
    clock.now += 20 * 86400
    young, _ = store.create_room("Young lecture")
    clock.now += 11 * 86400  # the old one is 31 days old, the young one 11
    assert store.purge_expired() == [old]
    with pytest.raises(UnknownRoomError):
        store.get_room(old)
    with pytest.raises(UnknownStudentError):
        store.get_student(ada.id)
    assert store.get_room(young).lecture == "Young lecture"
    assert store.purge_expired() == []


def test_counters_count_until_they_expire(store, clock):
    assert store.counter("k") is None
    assert [store.hit("k", 10) for _ in range(3)] == [1, 2, 3]
    assert store.counter("k") == (3, clock.now + 10)
    clock.now += 10
    assert store.counter("k") is None
    assert store.hit("k", 10) == 1


def test_bad_names_are_refused(store):
    with pytest.raises(InvalidNameError):
        store.create_room("")
    code, _ = store.create_room("Algebra")
    with pytest.raises(InvalidNameError):
        store.join(code, "x" * 200)
    with pytest.raises(InvalidNameError):
        store.add_moment(code, "\x00")


def test_closing_a_room_ends_the_lecture_for_everyone(store, clock):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    clock.now = 2000
    room = store.close_room(code)
    assert room.closed_at == 2000 and not room.is_open
    assert store.get_room(code) == room
    assert store.close_room(code) == room  # closing twice changes nothing
    assert store.get_student(ada.id).left_at == 2000
    with pytest.raises(RoomClosedError, match="has ended"):
        store.join(code, "Bob")
    with pytest.raises((RoomClosedError, StudentLeftError)):
        store.record_sample(StudentSample(code, ada.id, 2001, probs(0)))
    with pytest.raises(RoomClosedError):
        store.add_moment(code, "too late")


def test_deleting_a_room_erases_it_and_only_it(store):
    a_code, a_key = store.create_room("Algebra")
    b_code, _ = store.create_room("Biology")
    ada, bea = store.join(a_code, "Ada"), store.join(b_code, "Bea")
    store.record_sample(StudentSample(a_code, ada.id, 1001, probs(1)))
    store.record_sample(StudentSample(b_code, bea.id, 1001, probs(2)))
    store.add_moment(a_code, "quiz starts")
    store.delete_room(a_code)
    with pytest.raises(UnknownRoomError):
        store.get_room(a_code)
    with pytest.raises(UnknownStudentError):
        store.get_student(ada.id)
    assert not store.verify_teacher(a_code, a_key)
    assert [s.student_id for s in store.samples(b_code)] == [bea.id]
    with pytest.raises(UnknownRoomError):
        store.delete_room(a_code)


# --------------------------------------------------------------------------- samples and moments


def test_samples_round_trip_with_their_exact_numbers(store):
    code, _ = store.create_room("Algebra")
    ada, bob = store.join(code, "Ada"), store.join(code, "Bob")
    written = [
        StudentSample(code, ada.id, 1001.25, probs(1)),
        StudentSample(code, bob.id, 1001.5, None),
        StudentSample(code, ada.id, 1002.0, probs(2)),
    ]
    store.record(written)
    assert store.samples(code) == written
    assert store.samples(code, start=1001.5, end=1002.0) == [written[1]]  # start <= t < end
    assert store.samples(code, student_id=ada.id) == [written[0], written[2]]


def test_a_connection_lost_heartbeat_reads_back_as_one(store):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    written = [
        StudentSample(code, ada.id, 1001.0, probs(1)),
        StudentSample(code, ada.id, 1002.0, None, lost=True),
        StudentSample(code, ada.id, 1003.0, None),
    ]
    store.record(written)
    assert [s.lost for s in store.samples(code)] == [False, True, False]
    assert store.samples(code) == written


def test_a_database_file_from_before_heartbeats_gains_the_flag_and_keeps_its_samples(tmp_path):
    import sqlite3

    from fer.classroom.store.sqlite import SQLiteStore

    old = SQLiteStore(tmp_path / "data")
    code, _ = old.create_room("Algebra")
    ada = old.join(code, "Ada")
    old.record([StudentSample(code, ada.id, 1001.0, probs(1))])
    old.close()
    with sqlite3.connect(tmp_path / "data" / "classmood.sqlite3") as conn:  # as the previous version wrote it
        conn.execute("ALTER TABLE samples DROP COLUMN lost")
    reopened = SQLiteStore(tmp_path / "data")
    reopened.record([StudentSample(code, ada.id, 1002.0, None, lost=True)])
    assert [(s.time, s.lost, s.has_face) for s in reopened.samples(code)] == [(1001.0, False, True), (1002.0, True, False)]
    reopened.close()


def test_samples_keep_whether_the_face_was_facing_the_screen(store):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    written = [
        StudentSample(code, ada.id, 1001.0, probs(1), facing=True),
        StudentSample(code, ada.id, 1002.0, probs(1), facing=False),
        StudentSample(code, ada.id, 1003.0, probs(1)),  # no head pose: unknown
        StudentSample(code, ada.id, 1004.0, None),
    ]
    store.record(written)
    assert [s.facing for s in store.samples(code)] == [True, False, None, None]


def test_recording_updates_last_seen_and_last_face_monotonically(store):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    store.record([StudentSample(code, ada.id, 1010, probs(1)), StudentSample(code, ada.id, 1012, None)])
    store.record_sample(StudentSample(code, ada.id, 1011, None))  # late arrival
    seen = store.get_student(ada.id)
    assert (seen.last_seen_at, seen.last_face_at) == (1012, 1010)


def test_rooms_never_see_each_others_data(store):
    a_code, _ = store.create_room("Algebra")
    b_code, _ = store.create_room("Biology")
    ada, bea = store.join(a_code, "Ada"), store.join(b_code, "Bea")
    store.record_sample(StudentSample(a_code, ada.id, 1001, probs(1)))
    store.record_sample(StudentSample(b_code, bea.id, 1001, probs(2)))
    store.add_moment(a_code, "quiz starts", at=1002)
    assert [s.id for s in store.students(a_code)] == [ada.id]
    assert [s.student_id for s in store.samples(a_code)] == [ada.id]
    assert [s.student_id for s in store.samples(b_code)] == [bea.id]
    assert store.samples(b_code, student_id=ada.id) == []
    assert store.moments(b_code) == []


def test_a_sample_claiming_another_room_is_refused_and_the_batch_is_not_stored(store):
    a_code, _ = store.create_room("Algebra")
    b_code, _ = store.create_room("Biology")
    ada = store.join(a_code, "Ada")
    good = StudentSample(a_code, ada.id, 1001, probs(1))
    with pytest.raises(UnknownStudentError, match=b_code):
        store.record([good, StudentSample(b_code, ada.id, 1002, probs(2))])
    assert store.samples(a_code) == [] and store.samples(b_code) == []
    assert store.get_student(ada.id).last_seen_at is None


def test_samples_of_a_student_who_left_are_refused(store):
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    store.leave(ada.id)
    with pytest.raises(StudentLeftError, match="Ada has left"):
        store.record_sample(StudentSample(code, ada.id, 1001, probs(1)))
    with pytest.raises(UnknownStudentError):
        store.record_sample(StudentSample(code, "made-up", 1001, probs(1)))


def test_marked_moments_round_trip_in_time_order(store, clock):
    code, _ = store.create_room("Algebra")
    clock.now = 1100
    late = store.add_moment(code, "questions")
    early = store.add_moment(code, "quiz starts", at=1050)
    assert late == Moment(code, 1100, "questions")
    assert store.moments(code) == [early, late]
    assert store.moments(code, start=1060) == [late]
    assert store.moments(code, end=1100) == [early]


def test_a_reloaded_dashboard_sees_everything_again(backend, clock):
    first = backend()
    code, key = first.create_room("Algebra")
    ada = first.join(code, "Ada")
    first.record([StudentSample(code, ada.id, 1000 + t, probs(t)) for t in range(5)])
    first.add_moment(code, "quiz starts", at=1002)
    before = (first.get_room(code), first.students(code), first.samples(code), first.moments(code))
    first.close()
    again = backend()
    assert again.verify_teacher(code, key)
    assert (again.get_room(code), again.students(code), again.samples(code), again.moments(code)) == before
    snap = class_snapshot(code, again.students(code), again.samples(code), now=1004.5, presence_timeout_s=5)
    assert snap.present == 1


def test_a_closed_store_says_so(backend):
    store = backend()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.create_room("Algebra")


# --------------------------------------------------------------------------- SQLite specifics


def test_the_teacher_key_is_not_in_the_database_files(sqlite_store, tmp_path):
    code, key = sqlite_store.create_room("Algebra")
    sqlite_store.join(code, "Ada")
    sqlite_store.close()
    files = list((tmp_path / "data").iterdir())
    blob = b"".join(f.read_bytes() for f in files if f.is_file())
    assert code.encode() in blob  # the data really is in these files
    for form in {key, key.replace("-", ""), key.lower()}:
        assert form.encode() not in blob


def test_a_deleted_room_leaves_no_names_in_the_database_file(sqlite_store, tmp_path):
    code, _ = sqlite_store.create_room("Algebra")
    sqlite_store.join(code, "Zebulon Quartermaine")
    sqlite_store.delete_room(code)
    blob = b"".join(f.read_bytes() for f in (tmp_path / "data").iterdir() if f.is_file())
    assert b"Zebulon Quartermaine" not in blob


def test_a_file_of_the_first_schema_is_upgraded_in_place(tmp_path):
    """A data folder written before teacher sessions and resume tokens existed opens, keeps
    its rooms, students and samples, and gains what is new."""
    import sqlite3

    from fer.classroom.rooms import hash_teacher_key
    from fer.classroom.store.sqlite import _SCHEMA

    data = tmp_path / "old"
    data.mkdir()
    conn = sqlite3.connect(data / "classmood.sqlite3")
    conn.executescript(_SCHEMA)  # the schema as version 1 shipped it
    conn.execute("INSERT INTO rooms VALUES ('ABCD-EFGH', 'Old lecture', ?, 1000.0, NULL)", (hash_teacher_key("K" * 16),))
    conn.execute("INSERT INTO students (id, room, name, joined_at) VALUES ('s1', 'ABCD-EFGH', 'Ada', 1000.0)")
    conn.execute(f"INSERT INTO samples VALUES ('ABCD-EFGH', 's1', 1001.0, {', '.join(['1.0'] + ['0.0'] * (len(EMOTIONS) - 1))})")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SQLiteStore(data, clock=lambda: 1002.0) as store:
        assert store.get_room("ABCD-EFGH").lecture == "Old lecture" and not store.get_room("ABCD-EFGH").locked
        assert store.get_student("s1").consent_version is None
        assert len(store.samples("ABCD-EFGH")) == 1
        assert store.verify_teacher("ABCD-EFGH", "K" * 16)
        assert store.teacher_session(store.open_teacher_session("ABCD-EFGH", 60)).code == "ABCD-EFGH"
        assert store.resume(store.issue_resume_token("s1")).id == "s1"
        assert store._query("PRAGMA user_version")[0][0] >= 2
    with SQLiteStore(data) as again:  # opening an upgraded file again changes nothing
        assert again.get_student("s1").name == "Ada"


def test_only_numbers_and_names_are_stored(sqlite_store):
    conn = sqlite_store._connection()
    columns = {
        (table, row[1]): row[2]
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        for row in conn.execute(f"PRAGMA table_info({table})")
    }
    assert "BLOB" not in columns.values()
    # "facing" (1, 0, NULL) and "lost" (a connection-lost heartbeat, StudentSample.lost) are flags.
    assert {name for (table, name), kind in columns.items() if table == "samples"} == {
        "room", "student", "time", "facing", "lost", *EMOTIONS}
    assert columns[("samples", "lost")] == "INTEGER"


def test_a_second_thread_and_connection_see_the_data(sqlite_store):
    code, _ = sqlite_store.create_room("Algebra")
    students = [sqlite_store.join(code, f"S{i}") for i in range(4)]
    errors = []

    def send(student):
        try:
            for t in range(25):
                sqlite_store.record_sample(StudentSample(code, student.id, 1000 + t, probs(t)))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(s,)) for s in students]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(sqlite_store.samples(code)) == 100
    with SQLiteStore(sqlite_store.data_dir) as other:
        assert len(other.samples(code)) == 100


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through /proc")
def test_connections_of_finished_threads_are_released(sqlite_store):
    code, _ = sqlite_store.create_room("Algebra")
    students = [sqlite_store.join(code, f"S{i}") for i in range(40)]
    open_files = lambda: len(list(Path("/proc/self/fd").iterdir()))  # noqa: E731
    before = open_files()
    for student in students:  # one short-lived thread per student, as the video callbacks are
        thread = threading.Thread(target=sqlite_store.record_sample, args=(StudentSample(code, student.id, 1001, None),))
        thread.start()
        thread.join()
    assert open_files() - before < 10
    assert len(sqlite_store.samples(code)) == 40


def test_another_process_sees_and_adds_data(sqlite_store):
    code, key = sqlite_store.create_room("Algebra")
    ada = sqlite_store.join(code, "Ada")
    script = textwrap.dedent(
        f"""
        import sys
        from fer.classroom.samples import StudentSample
        from fer.classroom.store.sqlite import SQLiteStore
        store = SQLiteStore({str(sqlite_store.data_dir)!r})
        assert store.verify_teacher({code!r}, {key!r})
        assert [s.name for s in store.students({code!r})] == ["Ada"]
        store.record_sample(StudentSample({code!r}, {ada.id!r}, 1001.0, None))
        store.join({code!r}, "Bob")
        store.close()
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [s.name for s in sqlite_store.students(code)] == ["Ada", "Bob"]
    assert sqlite_store.samples(code) == [StudentSample(code, ada.id, 1001.0, None)]


def test_a_full_disk_refuses_the_write_and_keeps_what_was_stored(sqlite_store):
    code, _ = sqlite_store.create_room("Algebra")
    ada = sqlite_store.join(code, "Ada")
    kept = [StudentSample(code, ada.id, 1000 + t, probs(t)) for t in range(10)]
    sqlite_store.record(kept)
    conn = sqlite_store._connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
    with pytest.raises(StorageUnavailableError, match="full.*earlier data is intact"):
        sqlite_store.record([StudentSample(code, ada.id, 2000 + t / 10, probs(t)) for t in range(5000)])
    assert sqlite_store.samples(code) == kept
    assert sqlite_store.get_student(ada.id).last_seen_at == 1009


def test_an_unusable_data_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageUnavailableError, match="CLASSMOOD_DATA_DIR"):
        SQLiteStore(blocker / "data")


def test_the_configuration_selects_the_store(tmp_path, redis_url):
    from fer.classroom.store.buffer import BufferedStore
    from fer.classroom.store.redis import RedisStore

    with open_store(AppConfig(data_dir=tmp_path / "d")) as store:
        assert isinstance(store, SQLiteStore) and store.path == tmp_path / "d" / "classmood.sqlite3"
    with open_store(AppConfig(data_dir=tmp_path / "unused", redis_url=redis_url)) as store:
        assert isinstance(store, BufferedStore) and isinstance(store.store, RedisStore)
        code, _ = store.create_room("Algebra")
        assert store.get_room(code).lecture == "Algebra"
    assert not (tmp_path / "unused").exists()  # with Redis, no SQLite file is made


def test_a_redis_url_where_nothing_listens_is_a_clear_error_at_start(tmp_path):
    from redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(StorageUnavailableError, match=r"REDIS_URL"):
        open_store(AppConfig(data_dir=tmp_path / "d", redis_url=url))


def test_a_database_from_before_the_facing_column_is_upgraded_and_keeps_its_samples(tmp_path):
    import sqlite3

    from fer.config import DB_FILENAME

    data = tmp_path / "data"
    with SQLiteStore(data) as store:
        code, _ = store.create_room("Algebra")
        ada = store.join(code, "Ada")
        store.record([StudentSample(code, ada.id, 1001.0, probs(1), facing=True)])
    with sqlite3.connect(data / DB_FILENAME) as conn:  # as an older ClassMood left it
        conn.execute("ALTER TABLE samples DROP COLUMN facing")
    with SQLiteStore(data) as store:
        assert [s.facing for s in store.samples(code)] == [None]
        store.record([StudentSample(code, ada.id, 1002.0, probs(1), facing=False)])
        assert [s.facing for s in store.samples(code)] == [None, False]
