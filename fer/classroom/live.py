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

        Called for every frame, at full rate; costs one reference swap and one drawing.
        """
        with self._lock:
            if self._closed:
                return frame_bgr  # the student left: nothing is analyzed any more
            if self._pending is not None:
                self._dropped += 1  # the previous frame was never analyzed: stale now
            self._pending = frame_bgr
            self._frames_in += 1
            self._last_frame_at = self._clock()
            faces = self._faces
            self._wake.notify()
            stuck = self._check_progress(self._last_frame_at)
        if stuck is not None:
            self._log_stuck_worker(*stuck)
        if not faces:
            return frame_bgr
        try:
            return self._draw(frame_bgr, faces)
        except Exception:  # drawing must never cost the student their video
            log.exception("drawing faces failed")
            return frame_bgr

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
                self._ended = True
                self._error = str(error)
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

    def stop(self, mark_absent: bool = True, final: bool = False) -> None:
        """Stop the worker and drop the pending frame (``on_video_ended``).

        With ``mark_absent`` a last "no face" sample records that the camera went off, so the
        stored series ends with it and the report shows the gap; the dashboard counts the
        student absent once the presence timeout has passed since the last face, like any
        student without a face (one rule, so a second of looking away never flips anyone).
        With ``final`` (the student left) a late frame can no longer restart the worker.
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
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if mark_absent and not ended:
            self._send(StudentSample(room=self.room, student_id=self.student_id, time=self._wall(), probs=None))

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
