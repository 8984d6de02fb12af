"""fer.classroom.governor.AnalysisGate: bounded concurrency, first come first served, clean cancelling."""

from __future__ import annotations

import threading
import time

import numpy as np

from fer.classroom.governor import AnalysisGate, shared_gate
from fer.classroom.live import StudentStream
from fer.vision.records import Face, FrameResult
from waiting import wait_until


def test_no_more_analyses_run_at_once_than_there_are_slots():
    gate, running, peak, lock = AnalysisGate(2), [0], [0], threading.Lock()

    def work():
        for _ in range(5):
            assert gate.acquire()
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.005)
            with lock:
                running[0] -= 1
            gate.release()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    stats = gate.stats()
    assert stats.turns == 30 and stats.busy == 0 and stats.waiting == 0


def test_waiting_streams_get_the_slot_in_arrival_order():
    gate, order = AnalysisGate(1), []
    assert gate.acquire()
    threads = []
    for name in "abcd":
        def wait(name=name):
            gate.acquire()
            order.append(name)
            gate.release()
        threads.append(threading.Thread(target=wait))
        threads[-1].start()
        wait_until(lambda: gate.stats().waiting == len(threads), what=f"{name} to queue")  # a known order
    gate.release()
    for t in threads:
        t.join()
    assert order == list("abcd")


def test_a_cancelled_waiter_leaves_the_queue_without_holding_a_slot():
    gate = AnalysisGate(1)
    assert gate.acquire()
    stop = threading.Event()
    result = []
    waiter = threading.Thread(target=lambda: result.append(gate.acquire(cancelled=stop.is_set, poll_s=0.01)))
    waiter.start()
    wait_until(lambda: gate.stats().waiting == 1, what="the waiter to queue")
    stop.set()
    waiter.join(timeout=20)
    assert result == [False]
    assert gate.stats().waiting == 0
    gate.release()
    assert gate.stats().busy == 0
    assert gate.acquire()  # the slot is free for the next one


def test_an_overloaded_server_slows_every_student_equally():
    # Four students want far more analyses than one slot gives (their rate never binds). Each
    # analysis holds the slot until the three others queue behind it, so every release finds
    # all of them waiting however slowly the machine schedules threads: the FIFO gate must then
    # hand out turns in strict rotation. Stopped after a fixed number of analyses.
    gate, total, enough, stop = AnalysisGate(1), [0], threading.Event(), threading.Event()
    lock = threading.Lock()

    def busy_analyze(frame, timestamp):
        wait_until(lambda: gate.stats().waiting >= 3 or stop.is_set(), timeout_s=30, what="the three others to queue")
        with lock:
            total[0] += 1
            if total[0] >= 200:
                enough.set()
        return FrameResult(faces=[Face((1, 1, 20, 20), np.full(7, 1 / 7, np.float32), 1)], timestamp=timestamp)

    streams = [
        StudentStream("ABCD-EFGH", f"s{i}", busy_analyze, lambda s: None, analysis_fps=10_000, gate=gate).start()
        for i in range(4)
    ]

    def feed(stream):
        while not stop.is_set():
            stream.process(np.zeros((40, 40, 3), np.uint8))
            stop.wait(0.0005)

    feeders = [threading.Thread(target=feed, args=(s,)) for s in streams]
    for t in feeders:
        t.start()
    try:
        assert enough.wait(120), "200 analyses did not happen within 120 s"
    finally:
        stop.set()
        for t in feeders:
            t.join()
        for s in streams:
            s.stop(mark_absent=False)
    counts = [s.status().frames_analyzed for s in streams]
    assert gate.stats().wait_seconds > 0  # they did queue for the slot
    assert max(counts) - min(counts) <= 2, counts


def test_stopping_a_stream_that_waits_for_a_slot_returns_promptly():
    gate = AnalysisGate(1)
    assert gate.acquire()  # another student's analysis holds the only slot
    stream = StudentStream(
        "ABCD-EFGH", "s1", lambda f, t: FrameResult(faces=[], timestamp=t), lambda s: None, gate=gate
    ).start()
    stream.process(np.zeros((40, 40, 3), np.uint8))
    wait_until(lambda: gate.stats().waiting == 1, what="the stream to queue for the slot")
    stopper = threading.Thread(target=stream.stop, kwargs={"mark_absent": False})
    stopper.start()
    stopper.join(timeout=20)
    assert not stopper.is_alive()
    # The worker gave up its place in the queue and ended, rather than waiting for the slot
    # another student holds (stop() would otherwise return only after its join timeout).
    assert gate.stats().waiting == 0
    assert not any(t.name == "classmood-s1" for t in threading.enumerate())
    assert stream.status().frames_analyzed == 0


def test_the_process_shares_one_gate_per_slot_count():
    assert shared_gate(3) is shared_gate(3)
    assert shared_gate(3).slots == 3


def test_a_turn_holds_one_slot_for_its_block_and_gives_it_back_on_an_error():
    gate = AnalysisGate(1)
    with gate.turn():
        assert gate.stats().busy == 1
    try:
        with gate.turn():
            raise RuntimeError("analysis failed")
    except RuntimeError:
        pass
    assert gate.stats().busy == 0 and gate.stats().turns == 2


def test_uploads_wait_for_each_other_in_one_process_wide_slot():
    from fer.classroom.governor import shared_upload_gate

    uploads = shared_upload_gate()
    assert uploads is shared_upload_gate() and uploads.slots == 1
    order: list[str] = []
    with uploads.turn():
        def second_upload() -> None:
            uploads.acquire()
            order.append("second")
            uploads.release()

        second = threading.Thread(target=second_upload)
        second.start()
        wait_until(lambda: uploads.stats().waiting == 1, what="the second upload to queue")
        order.append("first done")
    second.join(timeout=20)
    assert order == ["first done", "second"] and uploads.stats().busy == 0
