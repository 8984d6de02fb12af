"""ui/camera.py: the guard around streamlit-webrtc's context (real contexts and real workers).

The session is a plain dict here, which is what the guard reads of ``st.session_state``
(``get`` and ``in``); the components are streamlit-webrtc's own ``WebRtcStreamerContext`` and
``WebRtcWorker`` with a real aiortc peer connection.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.contrib.media import MediaRelay
from streamlit_webrtc import component as webrtc_component
from streamlit_webrtc.webrtc import WebRtcMode, WebRtcWorker

from fer.classroom.sdp import video_bitrate_cap
from ui.camera import (
    OFFER_SETTLE_S,
    CameraState,
    answer_hold_s,
    answered_ufrag,
    cap_answer,
    frontend_key,
    guard,
    ice_ufrag,
)

KEY = "student-s1"


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def worker(loop) -> WebRtcWorker:
    return WebRtcWorker(
        mode=WebRtcMode.SENDONLY, rtc_configuration=None, source_video_track=None, source_audio_track=None,
        sink_video_track=None, sink_audio_track=None, player_factory=None, in_recorder_factory=None,
        out_recorder_factory=None, video_frame_callback=None, audio_frame_callback=None,
        queued_video_frames_callback=None, queued_audio_frames_callback=None, on_video_ended=None,
        on_audio_ended=None, video_processor_factory=None, audio_processor_factory=None, async_processing=True,
        video_receiver_size=4, audio_receiver_size=4, sendback_video=False, sendback_audio=False,
        loop=loop, relay=MediaRelay(),
    )


def browser_offer(loop) -> str:
    """A real offer, as a browser's peer connection sends its camera: its own ICE credentials."""
    pc = RTCPeerConnection()
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    loop.run_until_complete(pc.setLocalDescription(loop.run_until_complete(pc.createOffer())))
    sdp = pc.localDescription.sdp
    loop.run_until_complete(pc.close())
    return sdp


def answering(loop, offer: str) -> WebRtcWorker:
    """A worker that has taken ``offer`` as its remote description, as ``process_offer`` leaves it."""
    made = worker(loop)
    loop.run_until_complete(made.pc.setRemoteDescription(RTCSessionDescription(offer, "offer")))
    return made


def value(offer: str | None, playing: bool) -> dict:
    sdp = {"sdp": offer, "type": "offer"} if offer else ""
    return {"playing": playing, "sdpOffer": sdp, "iceCandidates": {}}


def playing_session(loop):
    """A session whose component plays, as the component leaves it after a completed run."""
    offer = browser_offer(loop)
    live = answering(loop, offer)
    context = webrtc_component.WebRtcStreamerContext(worker=live, state=webrtc_component.WebRtcStreamerState(True, False))
    context._last_rendered_run_count = 6
    context._sdp_answer_json = '{"sdp": "answer", "type": "answer"}'
    context._is_sdp_answer_sent = True
    session = {KEY: context, frontend_key(KEY): value(offer, playing=True)}
    return session, context, live, CameraState()


def test_a_jump_of_two_in_the_run_count_on_the_same_page_stops_nothing(loop, monkeypatch):
    session, context, live, state = playing_session(loop)
    # streamlit-webrtc's own test, as it reads the count after a fast rerun: 6 then 8.
    monkeypatch.setattr(webrtc_component, "st", SimpleNamespace(session_state=session))
    monkeypatch.setattr(webrtc_component, "get_this_session_info", lambda: SimpleNamespace(script_run_count=8))
    assert guard(session, KEY, state) is None
    webrtc_component._get_or_create_context(KEY)
    assert context._get_worker() is live and context.state.playing and state.resets == []
    live.stop()


def test_without_the_guard_the_same_jump_stops_the_working_stream(loop, monkeypatch):
    """The failure the guard is for, reproduced: the component resets a context that plays."""
    session, context, live, _ = playing_session(loop)
    monkeypatch.setattr(webrtc_component, "st", SimpleNamespace(session_state=session))
    monkeypatch.setattr(webrtc_component, "get_this_session_info", lambda: SimpleNamespace(script_run_count=8))
    webrtc_component._get_or_create_context(KEY)
    assert context._get_worker() is None and not context.state.playing
    assert live.pc.connectionState == "closed"


def test_a_component_not_rendered_in_the_last_completed_run_is_reset(loop):
    session, context, live, state = playing_session(loop)
    del session[frontend_key(KEY)]  # Streamlit dropped its widget state: another page ran meanwhile
    assert guard(session, KEY, state) == "orphaned"
    assert context._get_worker() is None and context._sdp_answer_json is None and not context.state.playing
    assert live.pc.connectionState == "closed"


def test_a_new_offer_drops_the_stale_worker_and_keeps_the_browser_state(loop):
    session, context, old, state = playing_session(loop)
    # The browser restarted by itself after a disconnect: a new offer, the old worker still there.
    session[frontend_key(KEY)] = value(browser_offer(loop), playing=False)
    assert guard(session, KEY, state) == "new offer"
    assert context._get_worker() is None and old.pc.connectionState == "closed"
    # Signalling, as the browser is: the component will answer the offer, not stop what it creates.
    assert context.state.signalling and not context.state.playing
    assert not context._is_sdp_answer_sent


def test_an_answer_made_for_an_earlier_of_the_browsers_offers_is_dropped_before_it_is_sent(loop):
    """The component started three peer connections at once; the server answered the first
    offer, and the run that noted it was cut short by a rerun. The browser would apply that
    answer to its latest connection, whose ICE credentials it does not match."""
    first, latest = browser_offer(loop), browser_offer(loop)
    early = answering(loop, first)
    context = webrtc_component.WebRtcStreamerContext(worker=early, state=webrtc_component.WebRtcStreamerState(False, True))
    context._sdp_answer_json = '{"sdp": "the answer to the first offer", "type": "answer"}'
    context._is_sdp_answer_sent = False
    session, state = {KEY: context, frontend_key(KEY): value(latest, playing=False)}, CameraState()
    assert guard(session, KEY, state) == "new offer"
    assert context._sdp_answer_json is None and context._get_worker() is None
    assert early.pc.connectionState == "closed" and context.state.signalling


def test_a_signalling_browser_is_not_taken_for_an_idle_one_after_a_reset(loop):
    """After a reset the context says idle while the browser still holds its offer, and the
    component's value does not change again until ICE fails; the state is read from that value."""
    offer = browser_offer(loop)
    live = answering(loop, offer)
    context = webrtc_component.WebRtcStreamerContext(worker=live, state=webrtc_component.WebRtcStreamerState(False, False))
    session, state = {KEY: context, frontend_key(KEY): value(offer, playing=False)}, CameraState()
    assert guard(session, KEY, state) is None
    assert context.state.signalling and not context.state.playing and context._get_worker() is live
    live.stop()


def test_the_same_offer_on_every_rerun_keeps_the_worker(loop):
    session, context, live, state = playing_session(loop)
    for _ in range(5):
        assert guard(session, KEY, state) is None
    # Playing: the component's value no longer carries the offer, and nothing is reset either.
    session[frontend_key(KEY)] = value(None, playing=True)
    assert guard(session, KEY, state) is None
    assert context._get_worker() is live and state.resets == []
    live.stop()


def test_an_offer_and_the_worker_answering_it_share_their_ice_ufrag(loop):
    offer = browser_offer(loop)
    assert ice_ufrag(offer) and answered_ufrag(answering(loop, offer)) == ice_ufrag(offer)
    assert ice_ufrag(browser_offer(loop)) != ice_ufrag(offer)
    assert answered_ufrag(worker(loop)) is None and ice_ufrag(None) is None


def test_an_answer_waits_until_its_offer_has_been_the_latest_for_the_settle_time():
    state, t0 = CameraState(), 100.0
    assert answer_hold_s(state, "a", t0, pending=False) == 0  # seen; nothing to send yet
    assert answer_hold_s(state, "a", t0 + 0.25, pending=True) == pytest.approx(OFFER_SETTLE_S - 0.25)
    # Another connection's offer arrives: the clock starts again for it.
    assert answer_hold_s(state, "c", t0 + 0.5, pending=True) == pytest.approx(OFFER_SETTLE_S)
    assert answer_hold_s(state, "c", t0 + 0.5 + OFFER_SETTLE_S, pending=True) == 0
    assert state.offer == "c" and state.offer_seen_at == t0 + 0.5


def test_no_offer_or_no_pending_answer_is_never_held():
    state = CameraState()
    assert answer_hold_s(state, None, 5.0, pending=True) == 0
    assert answer_hold_s(state, "a", 5.0, pending=False) == 0 and state.offer == "a"


def test_a_first_render_has_nothing_to_guard():
    state = CameraState()
    assert guard({}, KEY, state) is None and state.resets == []


ANSWER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n"


def test_an_answer_not_yet_sent_is_capped_before_the_component_renders_it():
    context = webrtc_component.WebRtcStreamerContext(worker=None, state=webrtc_component.WebRtcStreamerState(False, True))
    context._sdp_answer_json = json.dumps({"sdp": ANSWER, "type": "answer"})
    context._is_sdp_answer_sent = False
    assert cap_answer(context, 150)
    sent = json.loads(context._sdp_answer_json)
    assert sent["type"] == "answer" and video_bitrate_cap(sent["sdp"]) == 150
    assert not cap_answer(context, 150)  # already capped: left as it is


def test_an_answer_already_sent_or_no_cap_is_left_alone():
    context = webrtc_component.WebRtcStreamerContext(worker=None, state=webrtc_component.WebRtcStreamerState(True, False))
    context._sdp_answer_json = json.dumps({"sdp": ANSWER, "type": "answer"})
    context._is_sdp_answer_sent = True
    assert not cap_answer(context, 150)
    context._is_sdp_answer_sent = False
    assert not cap_answer(context, 0)
    assert json.loads(context._sdp_answer_json)["sdp"] == ANSWER
    assert not cap_answer(None, 150)
