"""Share the server's CPU fairly between students when there is not enough of it.

Every student's worker thread wants to analyze a few frames a second. When the sum is more
than the cores can do, letting all of them run at once only makes every analysis slower
(the CPU is time-sliced between 30 threads, so a 20 ms analysis takes 300 ms) and the boxes
and labels the student sees lag behind. :class:`AnalysisGate` instead lets at most ``slots``
analyses run at a time (one per core) and hands free slots out first come, first served.
A worker waits for its turn *before* it takes the newest frame, so each analysis is of a
fresh frame and takes as long as it does on an idle machine; what drops under overload is
the number of analyses per student, and it drops equally for everyone because each stream
queues once per turn and the queue is FIFO. An uploaded video being analyzed on the
"Analyze media" page queues in the same gate (:meth:`AnalysisGate.turn`, once per analyzed
frame and the frames decoded before it), so it takes one slot at a time, like one more
student whose analysis is always due, and cannot starve a live class. Uploads also wait for
each other (:func:`shared_upload_gate`, one at a time per process), so however many visitors
upload at once, at most one slot is ever an upload's and the others stay the students'.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from fer import resources


@dataclass(frozen=True)
class GateStats:
    """How busy the gate has been: turns granted and the time spent waiting for them."""

    slots: int
    busy: int
    waiting: int
    turns: int
    wait_seconds: float


class AnalysisGate:
    """A FIFO limit on concurrent analyses; see the module docstring."""

    def __init__(self, slots: int | None = None) -> None:
        slots = slots or os.cpu_count() or 1
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self._lock = threading.Lock()
        self._busy = 0
        self._queue: collections.deque[threading.Event] = collections.deque()
        self._turns = 0
        self._wait_seconds = 0.0

    def acquire(self, cancelled: Callable[[], bool] = lambda: False, poll_s: float = 0.1) -> bool:
        """Wait for a free slot; False (and no slot held) if ``cancelled()`` turns true first.

        The waiter keeps its place in the queue while it polls ``cancelled``, so a stream
        being stopped gives up its turn without pushing anybody else back.
        """
        granted = threading.Event()
        start = time.monotonic()
        with self._lock:
            if self._busy < self.slots and not self._queue:
                self._busy += 1
                granted.set()
            else:
                self._queue.append(granted)
        while not granted.wait(poll_s):
            if cancelled():
                with self._lock:
                    if not granted.is_set():
                        self._queue.remove(granted)
                        return False
                # The slot was handed over while we gave up: pass it on.
                self.release()
                return False
        with self._lock:
            self._turns += 1
            self._wait_seconds += time.monotonic() - start
        return True

    def release(self) -> None:
        """Give the slot to the longest-waiting stream, or free it."""
        with self._lock:
            if self._queue:
                self._queue.popleft().set()  # the slot passes on; busy stays the same
            elif self._busy > 0:
                self._busy -= 1

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one slot for the ``with`` block: an upload's analysis queues here like a student."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def stats(self) -> GateStats:
        with self._lock:
            return GateStats(self.slots, self._busy, len(self._queue), self._turns, self._wait_seconds)


def shared_gate(slots: int | None = None) -> AnalysisGate:
    """The one gate of this process for ``slots`` (default: the number of CPU cores)."""
    slots = slots or os.cpu_count() or 1
    return resources.load_once(("analysis_gate", slots), lambda: AnalysisGate(slots))


def shared_upload_gate() -> AnalysisGate:
    """The one-slot queue uploads of this process wait in, in arrival order, before analyzing."""
    return resources.load_once(("upload_gate",), lambda: AnalysisGate(1))
