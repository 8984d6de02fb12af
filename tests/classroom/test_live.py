"""fer.classroom.live.StudentStream: newest frame only, rate limit, sampling, absence, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fer.classroom.live import StreamState, StudentStream
from fer.classroom.rooms import RoomClosedError
from fer.classroom.samples import StudentSample
from fer.errors import InputError
from fer.vision.pose import HeadPose
from fer.vision.records import Face, FrameResult
from waiting import wait_until

HAPPY = np.array([0, 0, 0, 1, 0, 0, 0], np.float32)
SAD = np.array([0, 0, 0, 0, 1, 0, 0], np.float32)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeAnalyzer:
    """Records which frames it saw; a frame's first pixel says what to find in it."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, frame: np.ndarray, timestamp: float) -> FrameResult:
        marker = int(frame[0, 0, 0])
        self.seen.append(int(frame[0, 0, 1]))
        if marker == 255:
            raise InputError("broken frame")
        if marker == 0:
            return FrameResult(faces=[], timestamp=timestamp)
        if marker in (3, 4):  # a face with a head pose: facing the screen (3) or turned away (4)
            pose = HeadPose(yaw=0.0 if marker == 3 else 60.0, pitch=5.0, roll=0.0)
            return FrameResult(faces=[Face((10, 10, 40, 40), HAPPY, 1, pose=pose)], timestamp=timestamp)
        probs = HAPPY if marker == 1 else SAD
        return FrameResult(faces=[Face((10, 10, 40, 40), probs, 1)], timestamp=timestamp)


def frame(marker: int = 1, serial: int = 0) -> np.ndarray:
    f = np.zeros((48, 64, 3), np.uint8)
    f[0, 0, 0], f[0, 0, 1] = marker, serial
    return f


@pytest.fixture
def rig():
    clock, analyzer, sent = Clock(), FakeAnalyzer(), []
    stream = StudentStream(
        "ABCD-EFGH", "s1", analyzer, sent.append, analysis_fps=2.0, sample_interval_s=1.0,
        draw=lambda img, faces: img + 1, clock=clock, wall_clock=lambda: 1000.0 + clock.t,
    )
    return stream, clock, analyzer, sent


def test_only_the_newest_frame_is_analyzed_and_older_ones_are_dropped(rig):
    stream, clock, analyzer, _ = rig
    for serial in range(50):
        stream.process(frame(1, serial))
    assert stream.pending_frames == 1
    assert stream.step()
    assert analyzer.seen == [49]
    assert stream.status().frames_dropped == 49 and stream.status().frames_in == 50


def test_memory_holds_at_most_one_pending_frame_however_fast_frames_come(rig):
    stream, clock, *_ = rig
    for serial in range(1000):
        stream.process(frame(1, serial % 250))
        assert stream.pending_frames <= 1


def test_analysis_rate_is_limited_to_the_configured_fps(rig):
    stream, clock, analyzer, _ = rig
    # 30 frames a second for 3 seconds, the worker trying after every frame.
    for i in range(90):
        clock.t = 100.0 + i / 30
        stream.process(frame(1, i % 250))
        stream.step()
    assert 5 <= len(analyzer.seen) <= 7  # 2 fps over 3 s


def test_every_frame_comes_back_at_once_with_the_last_known_faces_drawn(rig):
    stream, clock, *_ = rig
    first = stream.process(frame(1))
    assert first[0, 0, 0] == 1  # nothing known yet: passed through untouched
    stream.step()
    drawn = stream.process(frame(1))
    assert drawn[0, 0, 0] == 2  # the fake drawing adds 1 once a face is known


def test_samples_are_sent_about_once_per_interval_with_the_mean_face_probabilities(rig):
    stream, clock, _, sent = rig
    for i in range(41):  # 4 s at 10 frames a second, alternating happy and sad
        clock.t = 100.0 + i / 10
        stream.process(frame(1 if (i // 5) % 2 == 0 else 2))
        stream.step()
    assert 3 <= len(sent) <= 4
    assert all(isinstance(s, StudentSample) and s.room == "ABCD-EFGH" and s.student_id == "s1" for s in sent)
    assert all(s.probs is not None and abs(sum(s.probs) - 1) < 1e-6 for s in sent)
    assert sent[0].time == pytest.approx(1000.0 + 101.0, abs=0.15)


@pytest.mark.parametrize("markers, facing", [((3,), True), ((4,), False), ((1,), None), ((3, 3, 4), True), ((4, 4, 3), False)],
                         ids=["facing", "turned-away", "no-pose", "mostly-facing", "mostly-turned-away"])
def test_a_sample_says_whether_the_face_was_mostly_facing_the_screen(rig, markers, facing):
    stream, clock, _, sent = rig
    for i in range(25):  # 2.5 s at 10 frames a second; the stream analyzes 2 a second
        clock.t = 100.0 + i / 10
        stream.process(frame(markers[(i // 5) % len(markers)]))
        stream.step()
    assert sent and all(s.probs is not None for s in sent)
    if len(markers) == 1:
        assert all(s.facing is facing for s in sent)
    else:
        assert sum(s.facing is facing for s in sent) >= len(sent) / 2


def test_a_frame_without_face_gives_an_absent_sample(rig):
    stream, clock, _, sent = rig
    for i in range(25):
        clock.t = 100.0 + i / 10
        stream.process(frame(0))
        stream.step()
    assert sent and all(s.probs is None for s in sent)


def test_no_frames_means_no_samples_so_the_dashboard_times_the_student_out(rig):
    stream, clock, _, sent = rig
    stream.process(frame(1))
    stream.step()
    for i in range(50):
        clock.t += 0.1
        stream.step()
    assert len(sent) <= 1
    assert stream.status().state is StreamState.STALLED


def test_a_broken_frame_is_reported_and_the_stream_goes_on(rig):
    stream, clock, analyzer, sent = rig
    stream.process(frame(255))
    stream.step()
    status = stream.status()
    assert status.errors == 1 and "broken frame" in status.error
    clock.t += 1
    stream.process(frame(1))
    stream.step()
    assert stream.status().expression == ("happy", 1.0)
    assert stream.status().error is None


def test_an_unexpected_exception_in_analysis_does_not_kill_the_worker_thread():
    calls = []

    def analyze(frame, t):
        calls.append(t)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return FrameResult(faces=[Face((0, 0, 10, 10), HAPPY, 1)], timestamp=t)

    sent: list[StudentSample] = []
    stream = StudentStream("ABCD-EFGH", "s1", analyze, sent.append, analysis_fps=20, sample_interval_s=0.1).start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sent:
            stream.process(frame(1))
            time.sleep(0.02)
    finally:
        stream.stop(mark_absent=False)
    assert len(calls) >= 2 and sent
    assert stream.status().errors == 1


def test_stop_drops_the_pending_frame_and_marks_the_student_absent(rig):
    stream, clock, _, sent = rig
    stream.process(frame(1))
    stream.stop()
    assert stream.pending_frames == 0
    assert sent[-1].probs is None
    assert stream.status().state is StreamState.STOPPED


def test_a_closed_room_ends_the_analysis_instead_of_retrying_forever():
    clock = Clock()
    analyzer = FakeAnalyzer()

    def sink(sample):
        raise RoomClosedError("the lecture has ended")

    stream = StudentStream("ABCD-EFGH", "s1", analyzer, sink, analysis_fps=10, sample_interval_s=0.5, clock=clock)
    for i in range(30):
        clock.t = 100 + i / 10
        stream.process(frame(1))
        stream.step()
    status = stream.status()
    assert status.state is StreamState.ENDED and "ended" in status.error
    assert len(analyzer.seen) <= 8  # analysis stopped once the room refused samples


def test_after_the_student_leaves_late_frames_restart_nothing(rig):
    stream, clock, analyzer, _ = rig
    stream.start()
    stream.stop(mark_absent=False, final=True)
    stream.start()
    stream.process(frame(1))
    assert not stream.running and stream.pending_frames == 0


def test_the_worker_thread_analyses_in_the_background_at_the_rate_and_stops_cleanly():
    # The worker reads the fake clock, so the rate cannot be exceeded however fast the
    # machine is; waits only let the thread catch up, each with a deadline.
    clock, analyzer, sent = Clock(), FakeAnalyzer(), []
    stream = StudentStream("ABCD-EFGH", "s1", analyzer, sent.append, analysis_fps=5, sample_interval_s=0.2,
                           clock=clock, wall_clock=lambda: 1000.0 + clock.t).start()
    try:
        stream.process(frame(1, 0))
        wait_until(lambda: len(analyzer.seen) == 1, what="the first analysis")
        for tick in range(1, 5):
            # 30 fps of frames while the next analysis is not yet due on the clock...
            for serial in range(6):
                stream.process(frame(1, tick * 10 + serial))
            clock.t += 0.2  # ...then one analysis period: exactly one more analysis, of the newest
            wait_until(lambda: len(analyzer.seen) == tick + 1, what=f"analysis {tick + 1}")
            assert analyzer.seen[-1] == tick * 10 + 5
        assert len(analyzer.seen) == 5
        stream.process(frame(1, 99))
        wait_until(lambda: sent, what="a sample")
    finally:
        stream.stop(mark_absent=False)
    assert not stream.running
    assert not any(t.name == "classmood-s1" for t in threading.enumerate())


def test_a_stream_whose_frames_stop_ends_its_thread_and_marks_the_student_absent():
    # A killed tab never calls stop(): the worker must notice on its own.
    clock, sent = Clock(), []
    def analyze(frame, t):
        return FrameResult(faces=[Face((1, 1, 20, 20), HAPPY, 1)], timestamp=t)

    stream = StudentStream("ABCD-EFGH", "s1", analyze, sent.append, analysis_fps=20, sample_interval_s=0.1,
                           idle_stop_s=0.4, clock=clock).start()
    for i in range(5):
        stream.process(frame())
        wait_until(lambda: stream.status().frames_analyzed == i + 1, what=f"analysis {i + 1}")
        clock.t += 0.05
    assert stream.running
    clock.t += 0.5  # no frame for longer than idle_stop_s
    wait_until(lambda: not stream.running, what="the idle worker to stop")
    assert stream.status().state is StreamState.STOPPED
    assert sent and sent[-1].probs is None  # the last word to the dashboard: absent
    wait_until(lambda: not any(t.name == "classmood-s1" for t in threading.enumerate()), what="the thread to end")

    # The student comes back (the page's video callback restarts a stopped stream).
    stream.start()
    stream.process(frame())
    wait_until(lambda: stream.status().frames_analyzed >= 6, what="the restarted worker to analyze")
    assert stream.running
    stream.stop(mark_absent=False)


def test_a_storage_failure_stays_visible_until_a_sample_is_stored_and_is_logged_once(caplog):
    from fer.classroom.store.base import StorageUnavailableError

    clock, failing = Clock(), [True]
    stored = []

    def sink(sample):
        if failing[0]:
            raise StorageUnavailableError("database is locked")
        stored.append(sample)

    stream = StudentStream("ABCD-EFGH", "s1", FakeAnalyzer(), sink, analysis_fps=2.0, sample_interval_s=1.0,
                           draw=lambda img, faces: img, clock=clock)
    with caplog.at_level("WARNING", logger="fer.classroom.live"):
        for _ in range(8):  # four seconds of good analyses, every sample refused
            stream.process(frame(1))
            stream.step()
            clock.t += 0.5
            assert stream.status().error is None or "could not save the numbers: database is locked" in stream.status().error
        assert "database is locked" in stream.status().error  # a good analysis does not hide it
        failing[0] = False
        for _ in range(4):
            stream.process(frame(1))
            stream.step()
            clock.t += 0.5
    assert stored and stream.status().error is None
    warnings = [r for r in caplog.records if "database is locked" in r.getMessage()]
    assert len(warnings) == 1 and "s1" in warnings[0].getMessage()


def test_a_stuck_worker_is_logged_with_its_stack_and_the_student_is_told(caplog):
    from fer.classroom import live

    release = threading.Event()

    def blocked_analyze(frame_bgr, timestamp):
        release.wait(10)
        return FrameResult(faces=[], timestamp=timestamp)

    clock = Clock()
    stream = StudentStream("ABCD-EFGH", "s1", blocked_analyze, lambda s: None, analysis_fps=2.0,
                           draw=lambda img, faces: img, clock=clock)
    try:
        with caplog.at_level("WARNING", logger="fer.classroom.live"):
            stream.start()
            stream.process(frame(1))
            deadline = time.monotonic() + 5
            while stream.pending_frames and time.monotonic() < deadline:  # the worker took it and blocks
                time.sleep(0.01)
            clock.t += live.STUCK_AFTER_S + 1
            stream.process(frame(1))
            stream.process(frame(1))  # logged once per stall
        status = stream.status()
        assert status.state is StreamState.LIVE and "has not been analyzed for 16 s" in status.error
        stuck = [r.getMessage() for r in caplog.records if "none was analyzed" in r.getMessage()]
        assert len(stuck) == 1 and "blocked_analyze" in stuck[0]
    finally:
        release.set()
        stream.stop(mark_absent=False)


def test_the_second_analysis_waits_a_full_period_after_the_first(rig):
    stream, clock, analyzer, _ = rig
    stream.process(frame(1, 0))
    assert stream.step()
    clock.t += 0.1  # 2 fps: the next analysis is due 0.5 s after the first
    stream.process(frame(1, 1))
    assert not stream.step()
    clock.t += 0.4
    assert stream.step()
    assert analyzer.seen == [0, 1]


# ----------------------------------------------------------------------- frames handed in unconverted


class CountingFrame:
    """A decoded video frame as aiortc hands it over: converted to BGR only on request."""

    conversions = 0

    def __init__(self, marker: int, serial: int) -> None:
        self.marker, self.serial = marker, serial

    def to_ndarray(self, format: str) -> np.ndarray:
        assert format == "bgr24"
        CountingFrame.conversions += 1
        return frame(self.marker, self.serial)


def test_only_the_analyzed_frames_are_converted(rig):
    stream, clock, analyzer, _ = rig
    CountingFrame.conversions = 0
    for serial in range(30):  # two seconds of a 15 fps camera, analyzed at 2 fps
        stream.offer(CountingFrame(1, serial))
        if stream.step():
            pass
        clock.t += 1 / 15
    assert CountingFrame.conversions == len(analyzer.seen) == stream.status().frames_analyzed == 4
    assert stream.status().frames_in == 30 and stream.status().expression == ("happy", 1.0)


def test_a_real_video_frame_is_analyzed_as_bgr(rig):
    av = pytest.importorskip("av")
    stream, _, analyzer, _ = rig
    stream.offer(av.VideoFrame.from_ndarray(frame(1, 7), format="bgr24"))
    assert stream.step() and analyzer.seen == [7]


# ----------------------------------------------------------------------- heartbeat while no video arrives


def test_a_lost_connection_sends_one_heartbeat_per_interval_and_none_while_video_arrives(rig):
    stream, clock, _, sent = rig
    stream.process(frame(1))
    stream.step()
    assert not stream.heartbeat(lost=True)  # video arrives: the analysis's samples speak
    clock.t += 5.0  # the video stopped
    assert stream.heartbeat(lost=True)
    assert not stream.heartbeat(lost=True)  # once per sample interval
    clock.t += 1.0
    assert stream.heartbeat(lost=True)
    heartbeats = [s for s in sent if s.lost]
    assert len(heartbeats) == 2 and all(s.probs is None for s in heartbeats)


def test_the_end_of_the_lecture_calls_on_ended_once_and_stops_heartbeats():
    clock, ended = Clock(), []

    def closed(sample):
        raise RoomClosedError("the lecture has ended")

    stream = StudentStream("ABCD-EFGH", "s1", FakeAnalyzer(), closed, clock=clock, on_ended=lambda: ended.append(1))
    assert not stream.heartbeat(lost=True)  # refused: the room is closed
    assert stream.status().state is StreamState.ENDED and ended == [1]
    clock.t += 5.0
    assert not stream.heartbeat(lost=True)
    assert ended == [1]


def test_a_heartbeat_cannot_carry_probabilities():
    with pytest.raises(InputError):
        StudentSample("ABCD-EFGH", "s1", 1.0, tuple(HAPPY.tolist()), lost=True)


# ----------------------------------------------------------------------- the camera switch (CameraKeeper)

from fer.classroom.live import CameraKeeper, CameraPhase  # noqa: E402


class Component:
    """Drives a keeper as the join page does: one call per script run, with a fake clock.

    ``mounted``/``playing``/``signalling`` are what streamlit-webrtc's component reports,
    ``frame_at`` the stream's last frame; ``run()`` observes and then "renders", as ui.camera does.
    """

    def __init__(self, keeper: CameraKeeper, clock: Clock) -> None:
        self.keeper, self.clock = keeper, clock
        self.mounted = self.playing = self.signalling = False
        self.frame_at: float | None = None
        self.told: list[bool] = []

    def run(self) -> bool:
        self.keeper.observe(self.mounted, self.playing, self.signalling, self.frame_at)
        desired = self.keeper.desired()
        self.keeper.told(desired)
        self.told.append(desired)
        return desired

    def go_live(self) -> None:
        """The student consented, the component mounted and connected."""
        self.keeper.want()
        self.mounted = True
        self.run()
        self.connect()

    def connect(self) -> None:
        """The browser offers, connects and its frames arrive."""
        self.signalling = True
        self.run()
        self.signalling, self.playing = False, True
        self.clock.t += 1.0
        self.frame_at = self.clock.t
        self.run()


@pytest.fixture
def cam():
    clock = Clock()
    keeper = CameraKeeper(clock=clock, camera_timeout_s=15, start_timeout_s=30, stall_after_s=6,
                          max_restarts=3, restart_window_s=300)
    return Component(keeper, clock), keeper, clock


def test_the_consent_press_starts_the_camera_once_the_component_has_mounted(cam):
    component, keeper, clock = cam
    keeper.want()  # "Start my camera", with the consent
    assert component.run() is False  # not mounted yet: told not to play, so mount and start never race
    component.mounted = True
    assert component.run() is True  # the next run tells it to play: nothing else to press
    component.connect()
    assert keeper.phase is CameraPhase.LIVE and not keeper.lost


def test_a_stream_that_ends_without_stop_is_lost_then_restarts_by_itself(cam):
    component, keeper, clock = cam
    component.go_live()
    component.playing = False  # ICE failed, the frontend went idle; nobody pressed anything
    clock.t += 1.0
    assert component.run() is True  # still told to play: the component starts again by itself
    assert keeper.phase is CameraPhase.RECONNECTING and keeper.lost
    component.connect()
    assert keeper.phase is CameraPhase.LIVE and not keeper.lost


def test_a_stream_that_plays_without_video_is_turned_off_and_on(cam):
    component, keeper, clock = cam
    component.go_live()
    clock.t += 7.0  # "playing", but no frame for longer than stall_after_s
    assert component.run() is False and keeper.lost  # off...
    assert keeper.needs_rerun is False  # ...and this run told it so
    component.playing = False
    component.run()
    assert component.run() is True  # ...and on again once idle
    component.connect()
    assert keeper.phase is CameraPhase.LIVE


def test_restarts_are_bounded_and_then_wait_for_the_student(cam):
    component, keeper, clock = cam
    component.go_live()
    for _ in range(4):  # max_restarts=3: the fourth loss in the window gives up
        component.playing = False
        clock.t += 1.0
        component.run()
        if keeper.phase is CameraPhase.GAVE_UP:
            break
        component.connect()
    assert keeper.phase is CameraPhase.GAVE_UP and keeper.lost and component.run() is False
    keeper.want()  # the student presses "Turn my camera on"
    assert keeper.phase is CameraPhase.RECONNECTING and component.run() is True and keeper.lost
    component.connect()
    assert keeper.phase is CameraPhase.LIVE and not keeper.lost


def test_a_camera_that_never_opens_stops_asking_instead_of_looping(cam):
    component, keeper, clock = cam
    keeper.want()
    component.mounted = True
    component.run()
    for _ in range(20):  # the browser retries getUserMedia on its own; no offer ever reaches the server
        clock.t += 1.0
        component.run()
    assert keeper.phase is CameraPhase.BLOCKED and not keeper.lost
    assert component.told[-1] is False and component.told.count(True) <= 16
    clock.t += 100.0
    assert component.run() is False  # and it stays off until the student asks again
    keeper.want()
    assert component.run() is True


def _offer_in_flight(component, keeper):
    """The student wants the camera, the component mounts and its offer is being signalled."""
    keeper.want()
    component.mounted = True
    component.run()
    component.signalling = True
    component.run()


def test_an_offer_without_video_is_retried_not_blocked(cam):
    component, keeper, clock = cam
    _offer_in_flight(component, keeper)
    clock.t += 31.0  # offered, but no frame within start_timeout_s
    assert component.run() is False and keeper.phase is CameraPhase.RECONNECTING


def test_turning_off_and_the_lecture_end_never_restart(cam):
    component, keeper, clock = cam
    component.go_live()
    keeper.stop()
    component.playing = False
    clock.t += 60.0
    assert component.run() is False and keeper.phase is CameraPhase.OFF and not keeper.lost
    keeper.want()
    component.run()
    component.connect()
    keeper.end()
    assert component.run() is False and keeper.phase is CameraPhase.ENDED
    keeper.want()
    assert keeper.phase is CameraPhase.ENDED and component.run() is False


def test_an_offer_the_server_could_not_answer_is_turned_off_and_on(cam):
    component, keeper, clock = cam
    _offer_in_flight(component, keeper)
    keeper.answer_failed()  # streamlit-webrtc's SignallingTimeoutError
    assert component.run() is False and keeper.phase is CameraPhase.RECONNECTING
    component.signalling = False
    component.run()
    assert component.run() is True
    component.connect()
    assert keeper.phase is CameraPhase.LIVE
