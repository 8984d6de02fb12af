"""One student's live video: analyze the newest frame at a fixed rate, pass video through.

The browser sends 15-30 frames a second, the server can afford to analyze a few. If each
frame waited for its analysis, the student's own video would lag further behind with every
frame; if frames were queued, memory would grow without bound. So :class:`StudentStream`
keeps exactly one pending frame (the newest; older ones are dropped, never queued), a
worker thread analyses it at most ``analysis_fps`` times a second, and every incoming frame
is returned at once with the last known boxes and labels drawn on it.

About once a ``sample_interval_s`` the worker turns what it analyzed into one
:class:`fer.classroom.aggregate.StudentSample` (the mean probabilities of the student's face, or
"no face") and hands it to a sink, normally ``store.record_sample``. Only those numbers
leave this module: frames live in memory for one analysis and are then dropped.

Nothing here imports Streamlit; the student page wires :meth:`StudentStream.process` to
``webrtc_streamer(video_frame_callback=...)`` and :meth:`StudentStream.stop` to
``on_video_ended``. Tests drive :meth:`StudentStream.step` by hand with a fake clock.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Sequence

import numpy as np

from fer.classroom.governor import AnalysisGate
from fer.classroom.rooms import (
    RoomClosedError,
    StudentLeftError,
    UnknownRoomError,
    UnknownStudentError,
)
from fer.classroom.samples import StudentSample
from fer.config import AppConfig
from fer.errors import FerError
from fer.vision.records import Face, FrameResult

log = logging.getLogger(__name__)

#: ``analyze(frame_bgr, timestamp) -> FrameResult``, e.g. ``FrameAnalyzer(...).analyze``.
Analyze = Callable[[np.ndarray, float], FrameResult]
#: Receives each sample; ``Store.record_sample`` in the app.
Sink = Callable[[StudentSample], None]


class StreamState(str, Enum):
    """What the student page tells the student about their own stream."""

    WAITING = "waiting"  # started, no frame received yet (camera permission, connecting)
    LIVE = "live"  # frames arrive
    STALLED = "stalled"  # frames stopped arriving: the connection is probably lost
    STOPPED = "stopped"  # the video ended (the student pressed stop, or left)
    ENDED = "ended"  # the room refuses samples: the lecture ended or the student left


@dataclass(frozen=True)
class StreamStatus:
    """A consistent copy of a stream's counters, safe to read from the page's thread.

    ``frames_in`` counts frames received, ``frames_analyzed`` those analyzed (the rest were
    dropped as stale), ``samples_sent`` samples accepted by the sink. ``error`` is the last
    analysis or storage problem, shown to the student, and ``None`` once things work again.
    """

    state: StreamState
    faces: tuple[Face, ...]
    frames_in: int
    frames_analyzed: int
    frames_dropped: int
    samples_sent: int
    errors: int
    error: str | None

    @property
    def expression(self) -> tuple[str, float] | None:
        """The main face's label and its probability, what the student sees of themselves."""
        face = main_face(self.faces)
        return None if face is None else (face.label, float(np.max(face.probs)))


#: Seconds between two log lines about the same stream's failing storage.
SINK_LOG_INTERVAL_S = 30.0
#: Seconds of frames without a finished analysis after which the worker counts as stuck.
STUCK_AFTER_S = 15.0


def main_face(faces: Sequence[Face]) -> Face | None:
    """The face that is the student: the largest one, since a webcam user sits closest.

    Other faces (someone walking past) are drawn on the student's video but never sampled,
    so one student never counts as several.
    """
    if not faces:
        return None
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


class StudentStream:
    """The live processor of one student's camera; see the module docstring.

    ``analyze`` must hold the tracking state of this stream only (one ``FrameAnalyzer`` per
    stream). ``draw(frame, faces) -> frame`` annotates a copy (default
    :func:`fer.vision.annotate.annotate`). ``clock`` is monotonic seconds (rate limiting,
    staleness), ``wall_clock`` Unix seconds (sample times, which the store compares across
    processes). ``stall_after_s``: no frame for this long turns a live stream STALLED.
    ``idle_stop_s``: no frame for this long (a closed tab, a dead connection, nobody left to
    call :meth:`stop`) ends the worker thread and marks the student absent; a frame arriving
    later starts it again through :meth:`start`.
    ``gate``: the process's :class:`fer.classroom.governor.AnalysisGate`, shared by all streams, so an
    overloaded server lowers everyone's analysis rate equally instead of lagging.
    ``on_ended`` is called once, from the worker thread, when the room refuses this student's
    samples (the lecture ended, the student left): the page stops the student's connection there,
    so no media flows to a closed room even if the student's page has gone quiet.
    """

    def __init__(
        self,
        room: str,
        student_id: str,
        analyze: Analyze,
        sink: Sink,
        analysis_fps: float = 3.0,
        sample_interval_s: float = 1.0,
        stall_after_s: float = 3.0,
        idle_stop_s: float = 30.0,
        draw: Callable[[np.ndarray, Sequence[Face]], np.ndarray] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        gate: AnalysisGate | None = None,
        on_ended: Callable[[], None] | None = None,
    ) -> None:
        if analysis_fps <= 0 or sample_interval_s <= 0:
            raise ValueError("analysis_fps and sample_interval_s must be > 0")
        self.room = room
        self.student_id = student_id
        self._analyze = analyze
        self._sink = sink
        self._period = 1.0 / analysis_fps
        self._sample_interval = sample_interval_s
        self._stall_after = stall_after_s
        self._idle_stop = idle_stop_s
        if draw is None:
            from fer.vision.annotate import annotate as draw
        self._draw = draw
        self._clock = clock
        self._wall = wall_clock
        self._gate = gate
        self._on_ended = on_ended
        self._heartbeat_at = -float("inf")

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: np.ndarray | None = None  # the one frame waiting; never a queue
        self._faces: tuple[Face, ...] = ()
        self._next_analysis = -float("inf")
        self._last_frame_at: float | None = None
        # Probabilities of the main face of each analysis since the last sample; None
        # entries are analyses that found no face.
        self._interval: list[tuple[np.ndarray, bool | None] | None] = []  # (probs, facing) per analysis
        self._next_sample: float | None = None
        self._frames_in = self._analyzed = self._dropped = self._sent = self._errors = 0
        self._frame_size: tuple[int, int] | None = None  # (width, height) the browser sends, for the log
        self._error: str | None = None
        # A storage failure outlives the next good analysis: it is cleared only by a stored
        # sample, so a student whose numbers never reach the teacher is told so.
        self._sink_error: str | None = None
        self._sink_logged_at = -float("inf")
        # When the worker last finished an analysis (or started); see _check_progress.
        self._progress_at: float | None = None
        self._stall_logged = False
        self._stopped = False
        self._ended = False
        self._closed = False
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: AppConfig, room: str, student_id: str, analyze: Analyze, sink: Sink,
                    gate: AnalysisGate | None = None, **overrides) -> "StudentStream":
        """A student's stream with the settings' rates and timeouts.

        The one place the app and the load test build a stream, so that what the load test
        measures is what students get; ``overrides`` are for tests (clocks, drawing).
        """
        settings = dict(analysis_fps=config.analysis_fps, sample_interval_s=config.sample_interval_s,
                        idle_stop_s=config.idle_stop_s, gate=gate)
        settings.update(overrides)
        return cls(room=room, student_id=student_id, analyze=analyze, sink=sink, **settings)

    # ------------------------------------------------------------------ video thread

    def process(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Hand in a frame and get it back at once with the last known faces drawn.

        For a page that sends the video back (and for the simulated load test); costs one
        reference swap and one drawing per frame.
        """
        faces = self._hand_in(frame_bgr)
        if not faces:
            return frame_bgr
        try:
            return self._draw(frame_bgr, faces)
        except Exception:  # drawing must never cost the student their video
            log.exception("drawing faces failed")
            return frame_bgr

    def offer(self, frame) -> None:
        """Hand in a decoded video frame without converting it (the student page's path).

        ``frame`` is a BGR array or anything with ``to_ndarray(format="bgr24")`` (an
        ``av.VideoFrame``). Called for every frame at full rate; only the frames the worker
        analyzes are converted to BGR, the others are dropped as they came. Decoding itself
        cannot be skipped: a video codec's frames depend on the ones before them.
        """
        self._hand_in(frame)

    def _hand_in(self, frame) -> tuple[Face, ...]:
        with self._lock:
            if self._closed:
                return ()  # the student left: nothing is analyzed any more
            if self._pending is not None:
                self._dropped += 1  # the previous frame was never analyzed: stale now
            self._pending = frame
            self._frames_in += 1
            self._last_frame_at = self._clock()
            faces = self._faces
            self._wake.notify()
            stuck = self._check_progress(self._last_frame_at)
        if stuck is not None:
            self._log_stuck_worker(*stuck)
        return faces

    # ------------------------------------------------------------------ worker

    def step(self) -> bool:
        """One turn of the worker: analyze the pending frame if the rate allows, then
        send a sample if one is due. Returns whether a frame was analyzed.

        The background thread calls this in a loop; tests call it directly.
        """
        now = self._clock()
        with self._lock:
            due = self._pending is not None and now >= self._next_analysis and not self._ended
        turn = False
        if due and self._gate is not None:
            # Wait for a CPU slot before taking the frame, so the newest frame is analyzed.
            turn = self._gate.acquire(cancelled=lambda: self._stopped)
            if not turn:
                return False
            now = self._clock()
        try:
            return self._analyze_pending(now)
        finally:
            if turn:
                self._gate.release()

    def _analyze_pending(self, now: float) -> bool:
        with self._lock:
            frame = None
            if self._pending is not None and now >= self._next_analysis and not self._ended:
                frame, self._pending = self._pending, None
                # Schedule from the planned time, not from now, so the rate holds even
                # when the worker wakes a little late; but never build up a backlog. The
                # first analysis plans from now: from the initial -inf the second would
                # follow it at once.
                planned = self._next_analysis if self._next_analysis != -float("inf") else now
                self._next_analysis = max(planned + self._period, now)
        analyzed = False
        if frame is not None:
            analyzed = True
            try:
                if not isinstance(frame, np.ndarray):
                    frame = frame.to_ndarray(format="bgr24")  # only the analyzed frames are converted
                size = (frame.shape[1], frame.shape[0])
                if size != self._frame_size:  # what the browser really sends (it may scale under load)
                    self._frame_size = size
                    log.info("stream %s: frames of %dx%d", self.student_id, *size)
                result = self._analyze(frame, now)
            except FerError as error:
                self._failed(f"this frame could not be analyzed: {error}")
                result = None
            except Exception as error:  # a bug must not kill the stream either; it is logged
                log.exception("analysis failed")
                self._failed(f"analysis failed unexpectedly ({type(error).__name__})")
                result = None
            del frame  # the frame is not kept past its analysis
            with self._lock:
                self._analyzed += 1
                self._progress_at = self._clock()
                self._stall_logged = False
                if result is not None:
                    self._faces = tuple(result.faces)
                    face = main_face(result.faces)
                    self._interval.append(None if face is None else (np.asarray(face.probs, np.float64), face.facing))
                    self._error = None
        self._maybe_sample(now)
        return analyzed

    def _check_progress(self, now: float) -> tuple[threading.Thread, float] | None:
        """The worker and how long it has been stuck, once per stall (called under the lock).

        Frames arrive but no analysis has finished for ``STUCK_AFTER_S``: the worker is
        blocked (in the store, the detector, the gate...) and the student's box and label
        are frozen. Nothing in the app should ever do this, so when it happens the log gets
        the worker's stack, which says where.
        """
        thread = self._thread
        if thread is None or self._stopped or self._progress_at is None or self._stall_logged:
            return None
        stuck_for = now - self._progress_at
        if stuck_for <= STUCK_AFTER_S:
            return None
        self._stall_logged = True
        return thread, stuck_for

    def _log_stuck_worker(self, thread: threading.Thread, stuck_for: float) -> None:
        frame = sys._current_frames().get(thread.ident) if thread.ident is not None else None
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "(thread gone)\n"
        log.warning("student %s in room %s: frames arrive but none was analyzed for %.0f s; worker stack:\n%s",
                    self.student_id, self.room, stuck_for, stack)

    def _failed(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._error = message

    def _maybe_sample(self, now: float) -> None:
        with self._lock:
            if self._ended:
                return
            if self._next_sample is None:
                if not self._interval:
                    return  # nothing analyzed yet: no sample, the student is still connecting
                self._next_sample = now + self._sample_interval
                return
            if now < self._next_sample or not self._interval:
                # Without any analysis in the interval (no frames arrive) nothing is sent,
                # and the dashboard turns the student absent after the presence timeout.
                return
            seen = [entry for entry in self._interval if entry is not None]
            self._interval = []
            self._next_sample = max(self._next_sample + self._sample_interval, now)
        probs = [p for p, _ in seen]
        sample = StudentSample(
            room=self.room,
            student_id=self.student_id,
            time=self._wall(),
            probs=_mean_probs(probs) if probs else None,
            facing=_mostly_facing([facing for _, facing in seen]),
        )
        self._send(sample)

    def _send(self, sample: StudentSample) -> bool:
        try:
            self._sink(sample)
        except (RoomClosedError, StudentLeftError, UnknownRoomError, UnknownStudentError) as error:
            # The room will never accept this student's samples again; stop analyzing.
            with self._lock:
                first = not self._ended
                self._ended = True
                self._error = str(error)
            if first and self._on_ended is not None:
                try:
                    self._on_ended()  # e.g. stop the student's WebRTC connection: no media after the end
                except Exception:
                    log.exception("on_ended of student %s failed", self.student_id)
            return False
        except FerError as error:  # e.g. storage briefly unavailable: keep going
            self._sink_failed(f"could not save the numbers: {error}")
            return False
        except Exception as error:
            log.exception("sample sink failed")
            self._sink_failed(f"could not save the numbers ({type(error).__name__})")
            return False
        with self._lock:
            self._sent += 1
            self._sink_error = None
        return True

    def _sink_failed(self, message: str) -> None:
        """Count and keep a storage failure; log it at most every ``SINK_LOG_INTERVAL_S``."""
        now = self._clock()
        with self._lock:
            self._errors += 1
            self._sink_error = message
            due = now - self._sink_logged_at >= SINK_LOG_INTERVAL_S
            if due:
                self._sink_logged_at = now
        if due:  # the admin's only view of it: the student's page shows it, the teacher's does not
            log.warning("student %s in room %s: %s", self.student_id, self.room, message)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                abandoned = (
                    self._last_frame_at is not None and self._clock() - self._last_frame_at > self._idle_stop
                )
            if abandoned:
                log.info("no frame from student %s for %.0f s: stopping its worker", self.student_id, self._idle_stop)
                self.stop(mark_absent=True)
                return
            with self._lock:
                wait = self._sample_interval
                if self._pending is not None and not self._ended:
                    wait = min(wait, max(0.0, self._next_analysis - self._clock()))
                if self._pending is None or wait > 0:
                    self._wake.wait(timeout=max(wait, 0.01))
                if self._stopped:
                    return
            self.step()

    # ------------------------------------------------------------------ lifetime

    def start(self) -> "StudentStream":
        """Start the background worker (idempotent)."""
        with self._lock:
            if self._thread is None and not self._closed:
                self._stopped = False
                if self._last_frame_at is not None:
                    self._last_frame_at = self._clock()  # a restart is activity: not idle yet
                self._progress_at = self._clock()
                self._stall_logged = False
                self._thread = threading.Thread(target=self._run, name=f"classmood-{self.student_id}", daemon=True)
                self._thread.start()
        return self

    def stop(self, mark_absent: bool = True, final: bool = False, wait: bool = True) -> None:
        """Stop the worker and drop the pending frame (``on_video_ended``).

        With ``mark_absent`` a last "no face" sample records that the camera went off, so the
        stored series ends with it and the report shows the gap; the dashboard counts the
        student absent once the presence timeout has passed since the last face, like any
        student without a face (one rule, so a second of looking away never flips anyone).
        With ``final`` (the student left) a late frame can no longer restart the worker.
        ``wait=False`` does not wait for the worker to finish its turn (for a caller on the WebRTC
        event loop, which must never block).
        """
        with self._lock:
            self._stopped = True
            self._closed = self._closed or final
            self._pending = None
            self._faces = ()
            self._interval = []
            thread, self._thread = self._thread, None
            ended = self._ended
            self._wake.notify_all()
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if mark_absent and not ended:
            self._send(StudentSample(room=self.room, student_id=self.student_id, time=self._wall(), probs=None))

    def heartbeat(self, lost: bool) -> bool:
        """While no video arrives, tell the dashboard why, once per ``sample_interval_s``.

        With ``lost`` (the student's video ended without STOP or Leave and the page is
        reconnecting) the sample says "connection lost", so the teacher's tile does not read as
        a student who never started their camera. Returns whether a sample was sent.
        """
        now = self._clock()
        with self._lock:
            if self._ended or self._closed or now - self._heartbeat_at < self._sample_interval:
                return False
            if self._last_frame_at is not None and now - self._last_frame_at <= self._stall_after:
                return False  # video arrives: the worker's samples say everything
            self._heartbeat_at = now
        return self._send(StudentSample(room=self.room, student_id=self.student_id, time=self._wall(), probs=None,
                                        lost=lost))

    @property
    def last_frame_at(self) -> float | None:
        """When the last frame arrived (``clock`` seconds), None before the first."""
        with self._lock:
            return self._last_frame_at

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and not self._stopped

    def status(self) -> StreamStatus:
        now = self._clock()
        with self._lock:
            if self._ended:
                state = StreamState.ENDED
            elif self._stopped:
                state = StreamState.STOPPED
            elif self._last_frame_at is None:
                state = StreamState.WAITING
            elif now - self._last_frame_at > self._stall_after:
                state = StreamState.STALLED
            else:
                state = StreamState.LIVE
            error = self._sink_error or self._error
            if state is StreamState.LIVE and self._progress_at is not None and now - self._progress_at > STUCK_AFTER_S:
                error = (f"your video reaches the server but has not been analyzed for {now - self._progress_at:.0f} s, "
                         "so the teacher sees you as absent; press STOP, then START")
            return StreamStatus(
                state=state,
                faces=self._faces,
                frames_in=self._frames_in,
                frames_analyzed=self._analyzed,
                frames_dropped=self._dropped,
                samples_sent=self._sent,
                errors=self._errors,
                error=error,
            )

    @property
    def pending_frames(self) -> int:
        """Frames held in memory waiting for analysis: 0 or 1, never more."""
        with self._lock:
            return 0 if self._pending is None else 1


def _mostly_facing(flags: list[bool | None]) -> bool | None:
    """Whether the face was facing the screen in at least half of the analyses that could
    tell (a face with a head pose); None when none could."""
    known = [f for f in flags if f is not None]
    return None if not known else 2 * sum(known) >= len(known)


def _mean_probs(probs: list[np.ndarray]) -> tuple[float, ...]:
    mean = np.mean(np.stack(probs), axis=0)
    mean = np.clip(mean, 0.0, None)
    return tuple(float(p) for p in mean / mean.sum())


# ---------------------------------------------------------------------------- the camera switch


class CameraPhase(str, Enum):
    """Where a student's camera is, as the app (not the browser component) sees it."""

    OFF = "off"  # not asked for yet, or the student turned it off
    STARTING = "starting"  # asked for: the browser opens the camera and connects
    LIVE = "live"  # video reaches the server
    RECONNECTING = "reconnecting"  # it ended, or its video stopped, without the student asking: restarting
    GAVE_UP = "gave_up"  # reconnecting failed too often in a row: waits for the student
    BLOCKED = "blocked"  # the camera never opened (blocked, missing, in use): waits for the student
    ENDED = "ended"  # the lecture ended or the student left: it never starts again


class CameraKeeper:
    """The app's own camera switch, which the page passes on as ``desired_playing_state``.

    With the component's own START and STOP, the server cannot tell a student's STOP from a
    connection that died (both reach it as "not playing"), and cannot restart a stream. Here
    the student's buttons are the page's, so every end the student did not ask for is a loss
    the keeper repairs: the component is told to play for as long as the student wants the
    camera, and restarts by itself after a disconnect; a stream that claims to play but whose
    video stopped is turned off and on again. Restarts are bounded (``max_restarts`` within
    ``restart_window_s``, then :attr:`CameraPhase.GAVE_UP`), and a start in which the browser
    never even sent an offer within ``camera_timeout_s`` (the camera is blocked, missing or in
    use; the browser retries on its own while told to play) turns the switch off
    (:attr:`CameraPhase.BLOCKED`) instead of looping.

    The component is told ``False`` until it has mounted (sent its first value), so its
    mount and its start never race; the student's first press ("Start my camera", with the
    consent) is kept here and is not lost when the component is re-mounted by that rerun.

    The page calls :meth:`observe` on every run (each second from its status fragment) with
    what the component reports and when the stream last received a frame, reads
    :meth:`desired`, and reruns the whole page when it differs from what the component was
    last told (:meth:`told`). ``clock`` is monotonic seconds, the stream's clock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, camera_timeout_s: float = 30.0,
                 start_timeout_s: float = 45.0, stall_after_s: float = 10.0, max_restarts: int = 5,
                 restart_window_s: float = 300.0, name: str = "") -> None:
        self.name = name  # for the log: whose camera
        self._clock = clock
        self.camera_timeout_s = camera_timeout_s
        self.start_timeout_s = start_timeout_s
        self.stall_after_s = stall_after_s
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self._phase = CameraPhase.OFF
        self.restarts: list[float] = []  # when each automatic restart happened, within the window
        self._mounted = False
        self._told: bool | None = None
        self._attempt_at: float | None = None  # when the component was last told to play
        self._offered = False  # the browser sent an offer since then
        self._cycling = False  # told off to be turned on again once idle
        self._lost_since: float | None = None

    @property
    def phase(self) -> CameraPhase:
        return self._phase

    @phase.setter
    def phase(self, phase: CameraPhase) -> None:
        if phase is not self._phase:  # the admin's view of a class that loses someone
            log.info("camera %s: %s -> %s (restarts %d, told %s, offered %s, cycling %s)", self.name,
                     self._phase.value, phase.value, len(self.restarts), self._told, self._offered, self._cycling)
        self._phase = phase

    # ---- the student's buttons and the room

    def want(self) -> None:
        """The student asks for the camera (consent's "Start my camera", or turning it on again)."""
        if self.phase is CameraPhase.ENDED:
            return
        if self.phase in (CameraPhase.OFF, CameraPhase.BLOCKED, CameraPhase.GAVE_UP):
            self.restarts = []
            self._begin(lost=self.phase is CameraPhase.GAVE_UP)

    def stop(self) -> None:
        """The student turns the camera off: no restart, and no "connection lost"."""
        if self.phase is not CameraPhase.ENDED:
            self.phase = CameraPhase.OFF
            self._lost_since = None
            self._cycling = False

    def end(self) -> None:
        """The lecture ended or the student left: off for good."""
        self.phase = CameraPhase.ENDED
        self._lost_since = None
        self._cycling = False

    # ---- what the page passes on

    @property
    def lost(self) -> bool:
        """Whether a stream ended without the student asking and is not back yet."""
        return self._lost_since is not None

    @property
    def lost_for(self) -> float:
        return 0.0 if self._lost_since is None else self._clock() - self._lost_since

    def desired(self) -> bool:
        """What the component is to be told: play, or stop."""
        wants = self.phase in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING)
        return wants and self._mounted and not self._cycling

    def told(self, playing: bool) -> None:
        """The page passed ``playing`` to the component in this run."""
        if playing and self._told is not True:
            self._attempt_at = self._clock()
            self._offered = False
        self._told = playing

    @property
    def needs_rerun(self) -> bool:
        """The component's instruction changed since it was last rendered."""
        return self._told is not None and self._told != self.desired()

    def answer_failed(self) -> None:
        """The server could not answer the browser's offer in time: turn it off and on again."""
        if self.phase in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING):
            self._restart(self._clock(), cycle=True)

    def observe(self, mounted: bool, playing: bool, signalling: bool, last_frame_at: float | None) -> None:
        """Take in what the component reports and when the stream last got a frame."""
        now = self._clock()
        self._mounted = self._mounted or mounted
        if self.phase not in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING):
            return
        if self._cycling:
            if not playing and not signalling:
                self._cycling = False  # idle now: the next run tells it to play again
            return
        if self._told is not True or self._attempt_at is None:
            return  # not told to play yet (not mounted, or this run is the first to tell it)
        if playing or signalling:
            self._offered = True
        fresh = last_frame_at is not None and last_frame_at >= self._attempt_at and now - last_frame_at <= self.stall_after_s
        if self.phase is CameraPhase.LIVE:
            if fresh and playing:
                return
            if not playing and not signalling:
                # It ended without the student asking; told to play, the component starts again by itself.
                self._restart(now, cycle=False)
            elif not fresh:
                self._restart(now, cycle=True)  # "playing" without video: turn it off and on
            return
        if fresh:
            self.phase = CameraPhase.LIVE
            self._lost_since = None
            return
        waited = now - self._attempt_at
        if not self._offered and waited > self.camera_timeout_s:
            self.phase = CameraPhase.BLOCKED  # the browser never sent an offer: no camera to be had
            self._lost_since = None
        elif self._offered and waited > self.start_timeout_s:
            self._restart(now, cycle=True)

    def _begin(self, lost: bool) -> None:
        self.phase = CameraPhase.RECONNECTING if lost else CameraPhase.STARTING
        self._cycling = False
        self._attempt_at = self._clock() if self._told else None
        self._offered = False
        if not lost:
            self._lost_since = None
        elif self._lost_since is None:
            self._lost_since = self._clock()

    def _restart(self, now: float, cycle: bool) -> None:
        self.restarts = [t for t in self.restarts if now - t < self.restart_window_s] + [now]
        if self._lost_since is None:
            self._lost_since = now
        if len(self.restarts) > self.max_restarts:
            self.phase = CameraPhase.GAVE_UP
            self._cycling = False
            return
        self._cycling = cycle
        self.phase = CameraPhase.RECONNECTING
        self._attempt_at = now
        self._offered = False
