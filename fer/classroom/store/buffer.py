"""A bounded write-behind buffer in front of a store, for when the store blinks.

Students stream for an hour; a Redis restart or a network hiccup takes seconds. Without a
buffer every sample of those seconds would be an error in a video thread, and each write
would wait for a connect timeout. :class:`BufferedStore` instead keeps the samples that
could not be stored, in order, and writes them as soon as the store answers again, so the
class history has no hole and the video never waits on storage for long.

The buffer is bounded (``max_samples``) because an outage can outlast any memory: when it
is full the *oldest* batches go first (counted in :attr:`BufferStatus.dropped`), since the
teacher's live view needs the newest. While the store is down the wrapper tries it again
at most every ``retry_interval_s``; in between, :meth:`record` only appends to memory.
Only sample writes are buffered: joining, leaving, closing and reading need an answer now,
so they go straight through (after the buffered samples, so writes keep their order) and
raise :class:`~fer.classroom.store.base.StorageUnavailableError` while the store is down.

Samples still buffered when the process ends are lost; the page shows
:meth:`BufferedStore.status` so that nobody mistakes a waiting buffer for a stored one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from fer.classroom.rooms import Room, RoomError, Student
from fer.classroom.samples import Moment, StudentSample
from fer.classroom.store.base import StorageUnavailableError, Store, StoreError

log = logging.getLogger(__name__)

#: About five minutes of a class of 30 at one sample per second, a few MB of memory.
DEFAULT_MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class BufferStatus:
    """What the buffer holds, for a status line on the page.

    ``pending``: samples waiting for the store. ``dropped``: samples given up because the
    buffer was full. ``refused``: buffered samples the store refused once it was back (the
    room closed or the student left meanwhile). ``last_error``: why the latest write
    failed, ``None`` once a write succeeded again.
    """

    pending: int
    dropped: int
    refused: int
    last_error: str | None

    @property
    def online(self) -> bool:
        return self.last_error is None


class BufferedStore(Store):
    """``store`` with sample writes buffered while it raises StorageUnavailableError.

    ``clock`` is monotonic seconds; tests pass a settable one to step past the retry wait.
    """

    def __init__(
        self,
        store: Store,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        retry_interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self.store = store
        self.max_samples = max_samples
        self.retry_interval_s = retry_interval_s
        self._clock = clock
        self._lock = threading.Lock()  # guards the fields below
        self._flushing = threading.Lock()  # one writer of buffered batches at a time, in order
        self._pending: deque[tuple[StudentSample, ...]] = deque()
        self._pending_samples = 0
        self._dropped = 0
        self._refused = 0
        self._last_error: str | None = None
        self._retry_at = -float("inf")

    # ---- the buffered path

    def record(self, samples: Iterable[StudentSample]) -> None:
        """Store the batch now if possible, else keep it for later; never raises for an
        unavailable store. Refusals of this batch (closed room, departed student) are
        raised as usual, also when the batch had to wait behind buffered ones; only a batch
        that another thread's catch-up writes is counted in ``refused`` instead."""
        batch = tuple(samples)
        if not batch:
            return
        with self._lock:
            direct = not self._pending and self._clock() >= self._retry_at
        if direct:
            try:
                self.store.record(batch)
            except StorageUnavailableError as error:
                self._failed(error)
                self._enqueue(batch)
                return
            except RoomError:
                self._succeeded()
                raise
            self._succeeded()
            return
        self._enqueue(batch)
        self._flush(force=False, raise_for=batch)

    def flush(self) -> BufferStatus:
        """Try to write every buffered batch now, whatever the retry wait; for a page that
        wants the store caught up (or a shutdown)."""
        self._flush(force=True)
        return self.status()

    def status(self) -> BufferStatus:
        with self._lock:
            return BufferStatus(self._pending_samples, self._dropped, self._refused, self._last_error)

    def _enqueue(self, batch: tuple[StudentSample, ...], front: bool = False) -> None:
        with self._lock:
            if front:
                self._pending.appendleft(batch)
            else:
                self._pending.append(batch)
            self._pending_samples += len(batch)
            dropped = 0
            while self._pending_samples > self.max_samples:
                # Oldest first; a batch re-queued at the front is the oldest too.
                oldest = self._pending.popleft()
                self._pending_samples -= len(oldest)
                dropped += len(oldest)
            self._dropped += dropped
        if dropped:
            log.warning("store buffer full (%d samples): dropped the %d oldest", self.max_samples, dropped)

    def _flush(self, force: bool, raise_for: tuple[StudentSample, ...] | None = None) -> None:
        # Another thread already writing the buffer will write our batch too, in order.
        if not self._flushing.acquire(blocking=False):
            return
        refusal: RoomError | None = None
        try:
            while True:
                with self._lock:
                    if not self._pending or (not force and self._clock() < self._retry_at):
                        break
                    batch = self._pending.popleft()
                    self._pending_samples -= len(batch)
                try:
                    self.store.record(batch)
                except StorageUnavailableError as error:
                    self._failed(error)
                    self._enqueue(batch, front=True)
                    break
                except RoomError as error:
                    self._succeeded()  # the store answered, just not with a yes
                    with self._lock:
                        self._refused += len(batch)
                    log.warning("the store refused %d buffered samples: %s", len(batch), error)
                    if batch is raise_for:
                        refusal = error
                    continue
                except BaseException:
                    self._enqueue(batch, front=True)  # a bug or a closed store: keep the batch
                    raise
                self._succeeded()
        finally:
            self._flushing.release()
        if refusal is not None:
            raise refusal

    def _failed(self, error: StorageUnavailableError) -> None:
        with self._lock:
            was_online = self._last_error is None
            self._last_error = str(error)
            self._retry_at = self._clock() + self.retry_interval_s
        if was_online:
            log.warning("store unavailable, buffering samples: %s", error)

    def _succeeded(self) -> None:
        with self._lock:
            was_offline = self._last_error is not None
            self._last_error = None
            self._retry_at = -float("inf")
        if was_offline:
            log.info("store available again")

    # ---- everything else goes straight through, after the buffered samples

    def create_room(self, lecture: str) -> tuple[str, str]:
        return self.store.create_room(lecture)

    def get_room(self, code: str) -> Room:
        return self.store.get_room(code)

    def verify_teacher(self, code: str, key: str) -> bool:
        return self.store.verify_teacher(code, key)

    def close_room(self, code: str) -> Room:
        self._flush(force=True)
        return self.store.close_room(code)

    def delete_room(self, code: str) -> None:
        self._flush(force=True)
        self.store.delete_room(code)

    def rotate_teacher_key(self, code: str) -> str:
        return self.store.rotate_teacher_key(code)

    def set_locked(self, code: str, locked: bool) -> Room:
        return self.store.set_locked(code, locked)

    def open_teacher_session(self, code: str, ttl_s: float) -> str:
        return self.store.open_teacher_session(code, ttl_s)

    def teacher_session(self, token: str) -> Room | None:
        return self.store.teacher_session(token)

    def end_teacher_session(self, token: str) -> None:
        self.store.end_teacher_session(token)

    def join(self, code: str, display_name: str, consent_version: str | None = None) -> Student:
        return self.store.join(code, display_name, consent_version)

    def issue_resume_token(self, student_id: str) -> str:
        return self.store.issue_resume_token(student_id)

    def resume(self, token: str) -> Student:
        return self.store.resume(token)

    def remove_student(self, student_id: str) -> Student:
        self._flush(force=True)
        return self.store.remove_student(student_id)

    def delete_student_data(self, student_id: str) -> None:
        self._flush(force=True)
        self.store.delete_student_data(student_id)

    def purge_expired(self) -> list[str]:
        return self.store.purge_expired()

    def hit(self, key: str, ttl_s: float) -> int:
        return self.store.hit(key, ttl_s)

    def counter(self, key: str) -> tuple[int, float] | None:
        return self.store.counter(key)

    def leave(self, student_id: str) -> Student:
        self._flush(force=True)
        return self.store.leave(student_id)

    def get_student(self, student_id: str) -> Student:
        return self.store.get_student(student_id)

    def students(self, code: str, include_left: bool = True) -> list[Student]:
        return self.store.students(code, include_left)

    def samples(
        self, code: str, start: float | None = None, end: float | None = None, student_id: str | None = None
    ) -> list[StudentSample]:
        return self.store.samples(code, start, end, student_id)

    def add_moment(self, code: str, label: str, at: float | None = None) -> Moment:
        return self.store.add_moment(code, label, at)

    def moments(self, code: str, start: float | None = None, end: float | None = None) -> list[Moment]:
        return self.store.moments(code, start, end)

    def close(self) -> None:
        """Write what is buffered (one try), then close the store; what still could not be
        written is reported in the log, since it is lost with the process."""
        try:
            self._flush(force=True)
        except (RoomError, StoreError):
            pass
        left = self.status().pending
        if left:
            log.warning("closing the store with %d samples still unstored", left)
        self.store.close()
