"""A student's stream that ends without STOP is never silent, and comes back by itself.

In a real headless Chromium with a fake camera playing a real FER-2013 face, against a real
``streamlit run`` server: once the student is present, the test closes the browser's peer
connection under the page (as a network that drops would end it: nobody pressed STOP or
Leave) and keeps the student's network unable to connect for a while (every new peer
connection is made relay-only with no relay server, so ICE never connects). The student's
page must say "Connection lost" and the teacher's tile "connection lost" (never the
"no video" of a student who turned the camera off) until the network is back; then the
page reconnects by itself, without a press, and the student is present again.

Chrome's network emulation (``Network.emulateNetworkConditions`` offline) does not stop
WebRTC's UDP and would cut the page's own websocket, so the cut is made on the peer
connection itself. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import time

import pytest

from browser import (
    ARTIFACTS,
    AppServer,
    NoCameraFace,
    camera_scene,
    join_in,
    launch_browser,
    metrics,
    open_dashboard,
    require_chromium,
    shots_on_failure,
    start_camera,
    streaming,
    student_context,
    wait_for,
    write_y4m,
)
from fer.classroom.store.factory import open_store
from fer.config import AppConfig

pytestmark = pytest.mark.browser

sync_api = require_chromium()

#: Injected into every frame of the student's page: keep each RTCPeerConnection, so that the
#: test can close it, and while the top page's ``__classmoodOffline`` is set, make every new
#: one relay-only with no relay server (it gathers no candidate and never connects).
NETWORK_SWITCH = """(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || Native.__classmoodSwitch) return;
  window.__classmoodPcs = [];
  class Switched extends Native {
    constructor(config, ...rest) {
      config = Object.assign({}, config || {});
      let offline = false;
      try { offline = Boolean(window.top.__classmoodOffline); } catch (e) {}
      if (offline) { config.iceServers = []; config.iceTransportPolicy = "relay"; }
      super(config, ...rest);
      window.__classmoodPcs.push(this);
    }
  }
  Switched.__classmoodSwitch = true;
  window.RTCPeerConnection = Switched;
})();"""

CUT = "() => { let n = 0; (window.__classmoodPcs || []).forEach(pc => { if (pc.signalingState !== 'closed') { pc.close(); n++; } }); return n; }"

#: What the join page and the teacher's tile say meanwhile (pages/2_join.py, pages/3_dashboard.py).
STUDENT_LOST = "Connection lost"
TILE_LOST = "connection lost, reconnecting"
TILE_PRESENT = "🟢 present"


def cut_connections(page) -> int:
    """Close every open peer connection in the page's frames; how many were open."""
    closed = 0
    for frame in page.frames:
        try:
            closed += frame.evaluate(CUT)
        except Exception:  # a frame that went away meanwhile
            pass
    return closed


def dashboard_text(teacher) -> str:
    """The teacher's dashboard as text (one student in the room: their tile is the only one)."""
    return teacher.locator("body").inner_text()


def present(teacher) -> bool:
    return metrics(teacher).get("Present") == "1" and TILE_PRESENT in dashboard_text(teacher)


@pytest.fixture
def server(tmp_path, serving_model_path):
    with AppServer(tmp_path / "data", tmp_path / "server.log", {"CLASSMOOD_MODEL_PATH": str(serving_model_path)}) as app:
        yield app


def test_a_stream_that_ends_says_connection_lost_on_both_pages_until_it_is_back(server, fer_split, tmp_path):
    try:
        scene = camera_scene(fer_split, seed=1)
    except NoCameraFace as error:
        pytest.skip(str(error))
    camera = tmp_path / "camera.y4m"
    write_y4m(camera, scene)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    config = AppConfig.from_env(server.env)
    with open_store(config) as store, sync_api.sync_playwright() as p:
        code, key = store.create_room("Reconnect lecture")
        teacher = launch_browser(p).new_context(viewport={"width": 1400, "height": 1300}).new_page()
        open_dashboard(teacher, server.url, code, key)
        context = student_context(launch_browser(p, camera))
        context.add_init_script(NETWORK_SWITCH)
        ann = join_in(context, server.url, code, "Ann")
        with shots_on_failure({"student": ann, "teacher": teacher}, "reconnect"):
            assert start_camera(ann, presses=1) == 1
            wait_for(lambda: present(teacher), 90, "Ann present on the dashboard", teacher, "reconnect-present")
            cut_at = time.time()

            # The network drops: the stream ends under the page, and nothing can connect.
            ann.evaluate("window.__classmoodOffline = true")
            assert cut_connections(ann) >= 1
            wait_for(lambda: STUDENT_LOST in ann.locator("body").inner_text(), 60,
                     "the student's page saying the connection is lost", ann, "reconnect-student-lost")
            wait_for(lambda: TILE_LOST in dashboard_text(teacher), 60,
                     "the teacher's tile saying the connection is lost", teacher, "reconnect-tile-lost")
            ann.screenshot(path=str(ARTIFACTS / "reconnect-1-student-lost.png"), full_page=True)
            teacher.screenshot(path=str(ARTIFACTS / "reconnect-2-dashboard-lost.png"), full_page=True)

            # Still cut a few seconds on: both pages keep saying so, never "no video" or "camera is off".
            cut_until = time.monotonic() + 8
            while time.monotonic() < cut_until:
                tile, body = dashboard_text(teacher), ann.locator("body").inner_text()
                assert "no video" not in tile, tile
                assert "Your camera is off" not in body, body
                time.sleep(1)
            assert not streaming(ann)
            lost = [s for s in store.samples(code, start=cut_at) if s.lost]
            assert lost and all(s.probs is None for s in lost)

            # The network is back: the page reconnects by itself (no press) and Ann is present again.
            ann.evaluate("window.__classmoodOffline = false")
            wait_for(lambda: streaming(ann), 120, "the student's video back without a press", ann, "reconnect-back")
            wait_for(lambda: present(teacher), 60, "Ann present again on the dashboard", teacher,
                     "reconnect-present-again")
            assert STUDENT_LOST not in ann.locator("body").inner_text()
            ann.screenshot(path=str(ARTIFACTS / "reconnect-3-student-back.png"), full_page=True)
