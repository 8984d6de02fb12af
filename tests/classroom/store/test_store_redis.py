"""What only the Redis store has to show: several processes on one room, a dead or stalled
server, a restart, and what ends up in the server's files. The shared contract is tested
for every backend in ``test_store.py``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from fer.classroom.aggregate import class_snapshot
from fer.classroom.samples import StudentSample
from fer.classroom.store.base import StorageUnavailableError
from fer.classroom.store.redis import RedisStore, redact_url
from fer.emotions import EMOTIONS

ROOT = Path(__file__).resolve().parents[3]


def probs(i: int) -> tuple[float, ...]:
    p = np.full(len(EMOTIONS), 0.05)
    p[i % len(EMOTIONS)] = 0.7
    return tuple(p / p.sum())


def test_students_on_two_app_processes_appear_on_one_dashboard(redis_url):
    with RedisStore(redis_url) as teacher:
        code, _ = teacher.create_room("Algebra")
    # Each process is an app process a student's browser reached: it joins the student and
    # streams samples through the store, the only state the processes share.
    script = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        from fer.classroom.samples import StudentSample
        from fer.config import AppConfig
        from fer.classroom.store.factory import open_store
        url, code, name, label = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        p = np.full(7, 0.05); p[label] = 0.7; p = tuple(p / p.sum())
        with open_store(AppConfig.from_env({"REDIS_URL": url})) as store:
            student = store.join(code, name)
            start = time.time()  # after the join: samples from before it are outside the membership
            for t in range(20):
                store.record_sample(StudentSample(code, student.id, start + t / 10, p))
        print(student.id)
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, redis_url, code, name, str(label)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, label in (("Ada", 3), ("Bob", 4))
    ]
    ids = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        ids.append(out.strip())
    with RedisStore(redis_url) as dashboard:
        students = dashboard.students(code)
        samples = dashboard.samples(code)
    assert sorted(s.name for s in students) == ["Ada", "Bob"]
    assert {s.id for s in students} == set(ids)
    assert len(samples) == 40 and {s.student_id for s in samples} == set(ids)
    snap = class_snapshot(code, students, samples, now=max(s.time for s in samples), presence_timeout_s=5)
    assert snap.present == 2
    assert snap.label_counts[3] == 1 and snap.label_counts[4] == 1


def test_a_stopped_server_is_a_quick_clear_error_and_a_restart_loses_nothing(persistent_redis):
    store = RedisStore(persistent_redis.url)
    code, key = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    kept = [StudentSample(code, ada.id, 1000 + t, probs(t)) for t in range(5)]
    store.record(kept)
    persistent_redis.stop(kill=True)  # a crash: only what was synced survives
    for call in (
        lambda: store.record_sample(StudentSample(code, ada.id, 1010, probs(1))),
        lambda: store.samples(code),
        lambda: store.join(code, "Bob"),
    ):
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=r"Redis at redis://127\.0\.0\.1.*\(REDIS_URL\)"):
            call()
        assert time.monotonic() - started < 3
    persistent_redis.start()
    # The same store object carries on: its pooled connections died with the server.
    assert store.samples(code) == kept
    assert store.verify_teacher(code, key)
    assert store.get_student(ada.id).last_face_at == 1004
    store.close()


def test_a_stalled_server_times_out_instead_of_hanging(redis_url, redis_session_server):
    store = RedisStore(redis_url, timeout_s=0.5)
    code, _ = store.create_room("Algebra")
    redis_session_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match="Timeout|timed out"):
            store.get_room(code)
        assert time.monotonic() - started < 2
    finally:
        redis_session_server.resume()
    store.close()


def test_a_deleted_room_leaves_no_key_and_no_name_in_the_append_only_file(persistent_redis):
    import redis

    store = RedisStore(persistent_redis.url)
    code, _ = store.create_room("Algebra")
    keep, _ = store.create_room("Biology")
    zeb = store.join(code, "Zebulon Quartermaine")
    store.record_sample(StudentSample(code, zeb.id, 1000, probs(1)))
    store.join(keep, "Bea")

    def on_disk() -> bytes:
        return b"".join(f.read_bytes() for f in persistent_redis.directory.rglob("*.aof"))

    assert b"Zebulon Quartermaine" in on_disk()  # the names really are in these files
    store.delete_room(code)
    client = redis.Redis.from_url(persistent_redis.url)
    assert not [k for k in client.scan_iter("*") if code.encode() in k or zeb.id.encode() in k]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the rewrite runs in the background
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"] and b"Zebulon" not in on_disk():
            break
        time.sleep(0.1)
    assert b"Zebulon Quartermaine" not in on_disk()
    assert b"Bea" in on_disk()
    client.close()
    store.close()


def test_the_server_holds_only_numbers_and_names_and_no_teacher_key(persistent_redis):
    import redis

    store = RedisStore(persistent_redis.url)
    code, key = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    store.record([StudentSample(code, ada.id, 1000, probs(2)), StudentSample(code, ada.id, 1001, None)])
    store.add_moment(code, "quiz starts", at=1000.5)
    client = redis.Redis.from_url(persistent_redis.url, decode_responses=True)
    kinds = {k: client.type(k) for k in client.scan_iter("classmood:*")}
    assert set(kinds.values()) <= {"hash", "list", "zset", "string"}
    for member in client.zrange(f"classmood:room:{code}:samples", 0, -1):
        student, when, numbers = member.split("|")
        assert student == ada.id and float(when) in (1000, 1001)
        assert numbers == "-" or len([float(x) for x in numbers.split(",")]) == len(EMOTIONS)
    blob = b"".join(f.read_bytes() for f in persistent_redis.directory.rglob("*.aof"))
    assert code.encode() in blob
    for form in {key, key.replace("-", ""), key.lower()}:
        assert form.encode() not in blob
    client.close()
    store.close()


def test_passwords_never_appear_in_messages():
    assert redact_url("redis://user:s3cret@cache.example:6380/2") == "redis://user:***@cache.example:6380/2"
    assert redact_url("rediss://:s3cret@cache.example/0") == "rediss://:***@cache.example/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_every_key_of_a_room_expires_with_its_retention(redis_url):
    """Redis forgets a lecture by itself once its retention is over, even if no app runs."""
    import redis

    with RedisStore(redis_url, retention_s=1000) as store:
        code, _ = store.create_room("Algebra")
        ada = store.join(code, "Ada", consent_version="v1")
        store.issue_resume_token(ada.id)
        store.record_sample(StudentSample(code, ada.id, time.time(), probs(1)))
        store.add_moment(code, "quiz")
        store.open_teacher_session(code, ttl_s=60)
        store.hit("ratelimit:x", 30)
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        ttls = {key: client.ttl(key) for key in client.scan_iter("classmood:*")}
    assert len(ttls) >= 9  # room, students, samples, moments, seq, sessions, student, resume, session, counter
    assert all(0 < ttl <= 1000 for ttl in ttls.values()), ttls
    assert ttls["classmood:counter:ratelimit:x"] <= 30
    assert max(t for k, t in ttls.items() if k.startswith("classmood:tsession:")) <= 60


def test_rooms_written_before_ttls_get_theirs_from_the_purge(redis_url):
    import redis

    with RedisStore(redis_url, retention_s=1000) as store:
        code, _ = store.create_room("Algebra")
        with redis.Redis.from_url(redis_url, decode_responses=True) as client:
            client.persist(f"classmood:room:{code}")  # as an older ClassMood wrote it
            assert client.ttl(f"classmood:room:{code}") == -1
            assert store.purge_expired() == []
            assert 0 < client.ttl(f"classmood:room:{code}") <= 1000
