"""The student's camera: streamlit-webrtc, wrapped so that the app owns the stream's life.

streamlit-webrtc 0.79 ends a working stream in ways the page never asked for
(shared/notes/live-path.md and the README's live path): its orphaned-context test resets a
context whose script run count moved on by two between renders, which Streamlit's fast
reruns produce on the same page; and when the browser sends a new offer while an old worker
still exists, it answers nothing, or sends the old worker's answer, which the browser applies
to its new connection, where ICE then fails. :func:`camera` replaces the first with a test
that reruns cannot fool, drops a worker that does not answer the latest offer, and drives
the component's ``desired_playing_state`` from a :class:`fer.classroom.live.CameraKeeper`,
which restarts streams that end without the student asking.

The stream is SENDONLY: nothing is encoded and sent back. The student's own preview is the
browser's local camera stream (:func:`preview`), and the face box and expression are shown
by the page as text. Each decoded frame is handed to the student's
:class:`fer.classroom.live.StudentStream` on the WebRTC event loop without any conversion
(one reference swap); the stream converts only the frames it analyzes.

This relies on private attributes of streamlit-webrtc's context (``_get_worker``,
``_reset_context``, ``_last_rendered_run_count``, ``_set_state``); requirements.txt pins the
version they were read from, and tests/app/test_camera.py checks them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st
import streamlit.components.v1 as components
import streamlit_webrtc
from streamlit_webrtc import WebRtcMode
from streamlit_webrtc import component as webrtc_component
from streamlit_webrtc.sink import VideoSinkTrack
from streamlit_webrtc.webrtc import SignallingTimeoutError

from fer.classroom.live import CameraKeeper, StudentStream
from fer.classroom.sdp import cap_video_bitrate

log = logging.getLogger(__name__)


#: Seconds an offer must have been the component's latest before its answer goes to the
#: browser. The component can start several peer connections within a fraction of a second
#: (:func:`guard`), and the browser applies the first answer it gets to its latest one; an
#: answer sent before the last offer arrived is the wrong one and costs the student a failed
#: ICE check of 15-30 s. A second is nothing beside that, and more than the spread of the
#: offers the harness saw on a loaded machine (``scripts/browser_load.py``, the README).
OFFER_SETTLE_S = 1.0


@dataclass
class CameraState:
    """What the wrapper remembers of one component between runs (in the session)."""

    offer: str | None = None  # ICE ufrag of the latest offer the component sent
    offer_seen_at: float = 0.0  # monotonic time it was first seen
    resets: list[str] = field(default_factory=list)  # why the wrapper reset the context, for the log and tests


def frontend_key(key: str) -> str:
    return webrtc_component.generate_frontend_component_key(key)


def component_value(session: Any, key: str) -> dict | None:
    """The component's last value (``{"playing", "sdpOffer", "iceCandidates"}``), or None."""
    value = session.get(frontend_key(key)) if hasattr(session, "get") else None
    return value if isinstance(value, dict) else None


def offer_sdp(value: dict | None) -> str | None:
    offer = value.get("sdpOffer") if value else None
    return offer.get("sdp") if isinstance(offer, dict) else None


def ice_ufrag(sdp: str | None) -> str | None:
    """The ``a=ice-ufrag`` of an SDP: which of the browser's peer connections it belongs to.

    Every RTCPeerConnection draws its own ICE credentials (RFC 8839), so an offer and the
    worker that answers it carry the same one, whatever either side re-serializes."""
    for line in (sdp or "").splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line[len("a=ice-ufrag:"):].strip()
    return None


def answered_ufrag(worker: Any) -> str | None:
    """The ICE ufrag of the offer ``worker`` answers (its peer connection's remote description)."""
    pc = getattr(worker, "pc", None)
    description = pc.remoteDescription if pc is not None else None
    return ice_ufrag(description.sdp) if description is not None else None


def guard(session: Any, key: str, state: CameraState) -> str | None:
    """Before the component renders: reset its context only when it is really stale.

    Returns why it reset the context, or None. Two cases:

    - *orphaned*: the component was not rendered in the last completed script run (the
      student went to another page and came back; the iframe is new). Streamlit removes a
      widget's state exactly after a completed run that did not render it, and never after
      a run cut short by a rerun, so "the component's widget state is gone" is that test,
      with no run counter to race. streamlit-webrtc's own test (the run count moved on by two
      or more) is switched off: the count is raised on the event loop thread when a run's
      end is sent, so a fast rerun can read it before the previous run was counted and see
      a jump of two on the same page, and then it stopped a working stream.
    - *stale worker*: the component's latest offer is not the one the context's worker
      answers. The browser restarted by itself after a disconnect, or, most often, the
      component started several peer connections at once: its start waits for a module
      import before it counts as started, and every render meanwhile (new argument objects)
      starts again, so two or three offers leave within milliseconds and the server may make
      its worker for the first. The component would send that worker's answer, and the
      browser would apply it to its latest connection, whose ICE credentials it does not
      match: ICE fails some 15-30 s later and the student waits for a restart. The worker is
      stopped so that a new one answers the latest offer. Which offer a worker answers is
      read from the worker itself (:func:`answered_ufrag`), never from notes taken after a
      render: a run cut short by a rerun takes no notes.
    """
    context = session.get(key) if hasattr(session, "get") else None
    if context is None:
        return None
    reason = None
    if frontend_key(key) not in session:
        reason = "orphaned"
    else:
        offer = ice_ufrag(offer_sdp(component_value(session, key)))
        worker = context._get_worker()
        if worker is not None and offer is not None and answered_ufrag(worker) != offer:
            reason = "new offer"
    if reason is not None:
        webrtc_component._reset_context(context)
        state.resets.append(reason)
        log.info("camera %s: context reset (%s)", key, reason)
    value = component_value(session, key)
    wanted = webrtc_component.compile_state(value) if value is not None else context.state
    if context.state != wanted:
        # The context's state is the frontend's, read afresh every run. streamlit-webrtc
        # updates it only when the component's value changes, and every reset (ours above,
        # or its own) sets it to "idle": left so, a browser that is still signalling looks
        # idle, and the component's stop branch drops each worker it makes for the offer the
        # browser holds, run after run, until the browser gives up on ICE.
        if reason is None:
            log.info("camera %s: state re-read from the component (%s)", key, wanted)
        context._set_state(wanted)
    context._last_rendered_run_count = None  # the run-count test above is replaced, not added to
    return reason


def answer_pending(key: str) -> bool:
    """Whether the worker's SDP answer waits for a full run to reach the browser.

    The component asks for that run itself (``rerun()`` after making the answer), but a
    rerun requested while another is starting can be dropped, and the page's only periodic
    runs are its status fragment's, which do not render the component: the browser then
    waits for an answer that never comes (seen in the baseline runs, README's live path).
    """
    context = st.session_state.get(key)
    return bool(context is not None and context._sdp_answer_json and not context._is_sdp_answer_sent)


def answer_hold_s(state: CameraState, offer: str | None, now: float, pending: bool) -> float:
    """How long the pending answer must wait before it goes to the browser (0: send it now).

    Notes ``offer`` (an ICE ufrag) as the component's latest, with the time it was first seen,
    and holds a pending answer until that offer has been the latest for ``OFFER_SETTLE_S``.
    The note is taken before the component renders, so a run cut short by a rerun loses at
    most the time it was seen, which only holds the answer a little longer."""
    if offer is not None and offer != state.offer:
        state.offer, state.offer_seen_at = offer, now
    if not pending or offer is None:
        return 0.0
    return max(0.0, OFFER_SETTLE_S - (now - state.offer_seen_at))


def cap_answer(context: Any, kbps: int) -> bool:
    """Write the send-bitrate cap (:mod:`fer.classroom.sdp`) into an answer not yet sent.

    streamlit-webrtc makes the answer in one run and hands it to the browser in the next, so
    the answer is rewritten between the two, before the component renders. Returns whether it
    changed the answer."""
    answer = getattr(context, "_sdp_answer_json", None) if context is not None else None
    if not answer or context._is_sdp_answer_sent or kbps <= 0:
        return False
    parsed = json.loads(answer)
    capped = cap_video_bitrate(parsed["sdp"], kbps)
    if capped == parsed["sdp"]:
        return False
    context._sdp_answer_json = json.dumps({**parsed, "sdp": capped})
    return True


def stopper(key: str) -> Callable[[], None]:
    """A callable that stops this session's WebRTC worker from any thread (no ``st.*`` inside).

    For :class:`StudentStream`'s ``on_ended``: when the room refuses samples, the connection
    is closed by the server, whatever the student's page does.
    """
    context = st.session_state.get(key)

    def stop() -> None:
        worker = context._get_worker() if context is not None else None
        if worker is not None:
            worker.stop()

    return stop


def stop_camera(key: str) -> None:
    """Stop the stream now, from the server (Leave, the lecture's end): no media flows after it."""
    context = st.session_state.get(key)
    if context is not None:
        webrtc_component._reset_context(context)


def camera(key: str, stream: StudentStream, keeper: CameraKeeper, *, frontend_rtc_configuration: dict,
           server_rtc_configuration: dict, media_stream_constraints: dict, translations: dict | None = None,
           max_kbps: int = 0) -> None:
    """Render the student's camera component for ``stream``, as ``keeper`` wants it; the browser
    is asked to send at most ``max_kbps`` (0: no cap)."""
    session = st.session_state
    state = session.setdefault(f"{key}:camera", CameraState())
    guard(session, key, state)
    context = session.get(key)
    value = component_value(session, key)
    hold = answer_hold_s(state, ice_ufrag(offer_sdp(value)), time.monotonic(), answer_pending(key))
    if hold > 0:
        # The run after the hold has the browser's latest offers: if one came meanwhile, the
        # guard drops this answer's worker and the latest offer is answered instead.
        time.sleep(hold)
        st.rerun()
    if cap_answer(context, max_kbps):
        log.info("camera %s: answer capped at %d kbit/s", key, max_kbps)
    playing = bool(context is not None and context.state.playing)
    signalling = bool(context is not None and context.state.signalling)
    keeper.observe(value is not None, playing, signalling, stream.last_frame_at)
    desired = keeper.desired()

    def on_frame(frame) -> None:
        # On the WebRTC event loop for every decoded frame: a reference swap, nothing more.
        if not stream.running:
            stream.start()
        stream.offer(frame)

    sink = VideoSinkTrack(callback=on_frame)
    sink._on_ended_callback = lambda: stream.stop(mark_absent=False, wait=False)
    keeper.told(desired)
    try:
        render(key, sink, desired, frontend_rtc_configuration, server_rtc_configuration, media_stream_constraints,
               translations)
    except SignallingTimeoutError:
        # The server did not answer the offer within streamlit-webrtc's 10 s (a busy machine):
        # the browser would wait for that answer for ever. Off and on again, counted as a restart.
        log.warning("camera %s: the offer was not answered in time; restarting it", key)
        if session.get(key) is not None:
            webrtc_component._reset_context(session[key])
        keeper.answer_failed()


def render(key: str, sink: VideoSinkTrack, desired: bool, frontend_rtc_configuration: dict,
           server_rtc_configuration: dict, media_stream_constraints: dict, translations: dict | None) -> None:
    streamlit_webrtc.webrtc_streamer(
        key=key,
        mode=WebRtcMode.SENDONLY,
        frontend_rtc_configuration=frontend_rtc_configuration,
        server_rtc_configuration=server_rtc_configuration,
        media_stream_constraints=media_stream_constraints,
        translations=translations,
        desired_playing_state=desired,
        sink_video_track=sink,
        video_html_attrs={"style": {"display": "none"}},
        media_toggle_controls=False,
    )


_PREVIEW = """
<video id="v" autoplay muted playsinline style="width:100%;max-height:360px;border-radius:0.5rem;background:#222;transform:scaleX(-1)"></video>
<script>
navigator.mediaDevices.getUserMedia({video: VIDEO, audio: false})
  .then(s => { document.getElementById("v").srcObject = s; })
  .catch(() => {});
</script>
"""


def preview(media_stream_constraints: dict) -> None:
    """The student's own video, straight from their camera in their browser.

    Nothing of it goes through the server: the server only receives the stream it analyzes.
    The preview asks for no frame-rate cap and its own width (``AppConfig.preview_constraints``),
    so it stays sharp and smooth however small and slow the stream the server is sent (the
    browser opens the camera once, for the preview, and scales and paces each track on its own).
    """
    video = media_stream_constraints.get("video", True)
    if isinstance(video, dict):
        video = {k: v for k, v in video.items() if k != "frameRate"}
    components.html(_PREVIEW.replace("VIDEO", json.dumps(video)), height=370)
