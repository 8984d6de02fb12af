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
from aiortc.contrib.media import MediaRelay
from streamlit_webrtc import component as webrtc_component
from streamlit_webrtc.webrtc import WebRtcMode, WebRtcWorker

from fer.classroom.sdp import video_bitrate_cap
from ui.camera import CameraState, cap_answer, frontend_key, guard, remember_worker

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


def playing_session(loop, offer: str = "v=0 offer-1"):
    """A session whose component plays, as the component leaves it after a completed run."""
    live = worker(loop)
    context = webrtc_component.WebRtcStreamerContext(worker=live, state=webrtc_component.WebRtcStreamerState(True, False))
    context._last_rendered_run_count = 6
    context._sdp_answer_json = '{"sdp": "answer", "type": "answer"}'
    context._is_sdp_answer_sent = True
    value = {"playing": True, "sdpOffer": {"sdp": offer, "type": "offer"}, "iceCandidates": {}}
    session = {KEY: context, frontend_key(KEY): value}
    state = CameraState()
    remember_worker(session, KEY, state)
    return session, context, live, state


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
    session[frontend_key(KEY)] = {"playing": False, "sdpOffer": {"sdp": "v=0 offer-2", "type": "offer"}, "iceCandidates": {}}
    assert guard(session, KEY, state) == "new offer"
    assert context._get_worker() is None and old.pc.connectionState == "closed"
    # Signalling, as the browser is: the component will answer the offer, not stop what it creates.
    assert context.state.signalling and not context.state.playing
    assert not context._is_sdp_answer_sent


def test_the_same_offer_on_every_rerun_keeps_the_worker(loop):
    session, context, live, state = playing_session(loop)
    for _ in range(5):
        assert guard(session, KEY, state) is None
        remember_worker(session, KEY, state)
    assert context._get_worker() is live and state.offer == "v=0 offer-1"
    live.stop()


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
