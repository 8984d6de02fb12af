"""The write-behind buffer: students keep streaming through a Redis restart, nothing that
was stored or buffered is lost, and the buffer stays within its bound."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fer.classroom.rooms import RoomClosedError
from fer.classroom.samples import StudentSample
from fer.classroom.store.base import StorageUnavailableError
from fer.classroom.store.buffer import BufferedStore
from fer.classroom.store.redis import RedisStore
from fer.emotions import EMOTIONS


class Clock:
    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def probs(i: int) -> tuple[float, ...]:
    p = np.full(len(EMOTIONS), 0.05)
    p[i % len(EMOTIONS)] = 0.7
    return tuple(p / p.sum())


def sample(code: str, student_id: str, t: float) -> StudentSample:
    return StudentSample(code, student_id, 1000 + t, probs(int(t)))


def test_samples_sent_while_redis_restarts_are_stored_once_it_is_back(persistent_redis):
    clock = Clock()
    store = BufferedStore(RedisStore(persistent_redis.url), retry_interval_s=2, clock=clock)
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    before = [sample(code, ada.id, t) for t in range(5)]
    for s in before:
        store.record_sample(s)
    assert store.status().pending == 0 and store.status().online

    persistent_redis.stop(kill=True)
    during = [sample(code, ada.id, t) for t in range(5, 10)]
    started = time.monotonic()
    for s in during:  # the video keeps streaming: no error, and no wait past the first try
        store.record_sample(s)
        clock.now += 0.5
    assert time.monotonic() - started < 3
    status = store.status()
    assert status.pending == 5 and status.dropped == 0 and not status.online
    assert "REDIS_URL" in status.last_error
    with pytest.raises(StorageUnavailableError):  # reads need an answer now, and say why
        store.samples(code)

    persistent_redis.start()
    clock.now += 2  # the retry wait is over
    after = sample(code, ada.id, 10)
    store.record_sample(after)
    assert store.samples(code) == before + during + [after]
    assert store.status() == store.status().__class__(pending=0, dropped=0, refused=0, last_error=None)
    assert store.get_student(ada.id).last_face_at == 1010
    store.close()


def test_the_buffer_is_bounded_and_drops_the_oldest_samples_first(persistent_redis):
    clock = Clock()
    store = BufferedStore(RedisStore(persistent_redis.url), max_samples=3, retry_interval_s=2, clock=clock)
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    persistent_redis.stop()
    sent = [sample(code, ada.id, t) for t in range(5)]
    for s in sent:
        store.record_sample(s)
    assert (store.status().pending, store.status().dropped) == (3, 2)
    persistent_redis.start()
    assert store.flush().pending == 0  # a page may ask to catch up without waiting
    assert store.samples(code) == sent[2:]
    store.close()


def test_buffered_samples_of_a_room_closed_meanwhile_are_counted_not_stored(persistent_redis):
    clock = Clock()
    store = BufferedStore(RedisStore(persistent_redis.url), retry_interval_s=2, clock=clock)
    code, _ = store.create_room("Algebra")
    ada, bob = store.join(code, "Ada"), store.join(code, "Bob")
    persistent_redis.stop()
    store.record([sample(code, ada.id, 0), sample(code, ada.id, 1)])
    persistent_redis.start()
    with RedisStore(persistent_redis.url) as teacher:  # the teacher's process ends the lecture
        teacher.close_room(code)
    clock.now += 2
    with pytest.raises(RoomClosedError):  # the caller's own batch is refused as usual
        store.record_sample(sample(code, bob.id, 2))
    status = store.status()
    assert (status.pending, status.refused) == (0, 3) and status.online
    assert store.samples(code) == []
    store.close()


def test_leaving_writes_the_buffered_samples_first(persistent_redis):
    clock = Clock()
    store = BufferedStore(RedisStore(persistent_redis.url), retry_interval_s=60, clock=clock)
    code, _ = store.create_room("Algebra")
    ada = store.join(code, "Ada")
    persistent_redis.stop()
    store.record_sample(sample(code, ada.id, 0))
    persistent_redis.start()
    store.leave(ada.id)  # well before the retry wait is over
    assert [s.time for s in store.samples(code)] == [1000]
    assert store.status().pending == 0
    store.close()
