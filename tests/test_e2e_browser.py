"""End to end in a real headless Chromium: a teacher, two students with fake cameras.

The cameras play real FER-2013 faces scaled onto a photo (a .y4m file Chromium reads as its
webcam), the app runs as a real ``streamlit run`` server with its own data directory, and
the test checks what the teacher's dashboard shows. Screenshots go to test-artifacts/e2e/.
Needs Debian's ``chromium`` and the ``playwright`` Python package (no downloaded browser);
skipped with a reason when either is missing. See shared/notes/browser-webrtc-test.md.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.aggregate import StudentSample
from fer.config import AppConfig
from fer.store import open_store

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".y4m", ".mp4", ".webm", ".npy"}
CHROME_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--disable-features=WebRtcHideLocalIpsWithMdns",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (browser tests)")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def write_y4m(path: Path, frame_bgr: np.ndarray, frames: int = 5, fps: int = 5) -> None:
    import cv2

    height, width = frame_bgr.shape[:2]
    yuv = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + yuv)


def camera_scene(fer_split, seed: int) -> np.ndarray:
    """A webcam-like frame with one real FER-2013 face that our detector finds."""
    from fer.detect import make_detector
    from fer.scenes import compose

    detector = make_detector(AppConfig().detector)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        # 320x240 at 10 fps: a small camera keeps two students' video codecs affordable on a
        # 2-core CI machine (signalling gives up after 10 s on a starved server).
        scene = compose(fer_split.images, fer_split.labels, 1, rng, size=(320, 240), face_px=(100, 120))
        # The browser sends the frame through a lossy video codec: the face must survive that too.
        degraded = cv2.imdecode(cv2.imencode(".jpg", scene.frame, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], cv2.IMREAD_COLOR)
        if len(detector.detect(scene.frame)) == 1 and len(detector.detect(degraded)) == 1:
            return scene.frame
    pytest.skip("no FER-2013 face found by the detector for the fake camera")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, serving_model_path):
    import urllib.request

    data_dir = tmp_path_factory.mktemp("e2e_data")
    server_tmp = tmp_path_factory.mktemp("e2e_server_tmp")  # the server's TMPDIR, scanned for images too
    port = free_port()
    env = {
        **os.environ,
        "CLASSMOOD_DATA_DIR": str(data_dir),
        "TMPDIR": str(server_tmp),
        "CLASSMOOD_MODEL_PATH": str(serving_model_path),
        "CLASSMOOD_ICE_SERVERS": "[]",
        "CLASSMOOD_ANALYSIS_FPS": "1",
        "CLASSMOOD_PRESENCE_TIMEOUT_S": "6",
        "CLASSMOOD_CAMERA_WIDTH": "320",
        "CLASSMOOD_CAMERA_FPS": "5",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CLASSMOOD_SAMPLE_INTERVAL_S": "1",
    }
    env.pop("REDIS_URL", None)
    log = open(tmp_path_factory.mktemp("e2e_log") / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start; see {log.name}")
            time.sleep(0.5)
        yield url, data_dir, server_tmp
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def metrics(page) -> dict[str, str]:
    values = {}
    for element in page.locator("[data-testid='stMetric']").all():
        label = element.locator("[data-testid='stMetricLabel']").inner_text().strip()
        values[label] = element.locator("[data-testid='stMetricValue']").inner_text().strip()
    return values


def wait_for(predicate, timeout: float, what: str, page=None, shot: str | None = None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # the page may be mid-rerender
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            if page is not None and shot:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{shot}.png"), full_page=True)
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1)


def click_in_frames(page, name: str, timeout: float = 30) -> None:
    def find():
        for frame in page.frames:
            # The label is styled upper case; its accessible name is "Start" / "Stop".
            button = frame.get_by_role("button", name=re.compile(f"^{name}$", re.IGNORECASE))
            if button.count():
                return button
        return None

    wait_for(find, timeout, f"the {name} button of the camera component", page, f"camera-{name}").first.click()


def join_as(browser, url: str, code: str, name: str):
    """Join and consent, up to the camera component's START button (not pressed yet)."""
    context = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/join?room={code}")
    page.get_by_label("Your display name (what the teacher sees)").fill(name)
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("I understand and agree").click()
    page.get_by_role("button", name="Start my camera").click()
    return page


def test_teacher_sees_two_students_live_absence_and_nobody_from_another_room(server, fer_split, tmp_path):
    url, data_dir, server_tmp = server
    started = time.time()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cameras = []
    for i, seed in enumerate((1, 2)):
        path = tmp_path / f"camera{i}.y4m"
        write_y4m(path, camera_scene(fer_split, seed))
        cameras.append(path)

    with sync_api.sync_playwright() as p:
        launch = dict(executable_path=CHROMIUM, headless=True)
        teacher_browser = p.chromium.launch(**launch, args=CHROME_FLAGS)
        students = [
            p.chromium.launch(**launch, args=CHROME_FLAGS + [f"--use-file-for-fake-video-capture={c}"]) for c in cameras
        ]
        try:
            # The teacher opens a room.
            teacher = teacher_browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
            teacher.goto(f"{url}/start")
            teacher.get_by_label("Lecture name").fill("E2E lecture")
            teacher.get_by_role("button", name="Open the room").click()
            wait_for(lambda: teacher.locator("[data-testid='stCode']").count() >= 4, 30, "the room code", teacher, "start")
            codes = [c.inner_text().strip() for c in teacher.locator("[data-testid='stCode']").all()]
            code, key = codes[0], codes[2]
            assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code) and f"room={code}" in codes[1]
            teacher.screenshot(path=str(ARTIFACTS / "1-start-a-class.png"), full_page=True)

            # Someone in another room, on the same server and store, is never shown.
            store = open_store(AppConfig.from_env({"CLASSMOOD_DATA_DIR": str(data_dir)}))
            other, _ = store.create_room("Another lecture")
            intruder = store.join(other, "Intruder")
            store.record([StudentSample(other, intruder.id, time.time() + 0.1, (0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1))])

            # The teacher's dashboard is open before the students arrive, as in a lecture.
            teacher.goto(f"{url}/dashboard?room={code}&key={key}")
            wait_for(lambda: metrics(teacher).get("Students joined") == "0", 60, "the empty dashboard", teacher, "empty")

            # Two students join with their (fake) cameras. START is pressed once each: a second
            # press before the component re-renders starts a second peer connection in the same
            # component, and the server then answers an offer the browser no longer uses.
            ann = join_as(students[0], url, code, "Ann")
            bo = join_as(students[1], url, code, "Bo")
            pages = {"ann": ann, "bo": bo}
            click_in_frames(ann, "START", timeout=60)
            click_in_frames(bo, "START", timeout=60)

            def two_present():
                m = metrics(teacher)
                return m.get("Present") == "2" and teacher.locator(".js-plotly-plot").count() >= 1 and m
            m = wait_for(two_present, 90, "two present students and a mood chart", teacher, "dashboard")
            assert m["Students joined"] == "2" and m["Absent"] == "0"

            # Both connections last: when Streamlit's garbage collection after every rerun starved
            # the server's event loop, aioice's consent checks timed out and it closed each
            # connection about 30 s after it connected.
            both_present = time.monotonic()
            while time.monotonic() - both_present < 40:
                try:
                    present = metrics(teacher).get("Present")
                except Exception:  # mid-rerender; read again
                    present = None
                if present not in (None, "2"):
                    teacher.screenshot(path=str(ARTIFACTS / "FAILED-connection-dropped.png"), full_page=True)
                    pytest.fail(f"{present} present {time.monotonic() - both_present:.0f} s after both were: a connection dropped")
                time.sleep(2)
            time.sleep(2)  # let the charts settle for the screenshot
            teacher.screenshot(path=str(ARTIFACTS / "2-dashboard-two-present.png"), full_page=True)
            ann.screenshot(path=str(ARTIFACTS / "3-student-ann.png"), full_page=True)
            body = teacher.locator("body").inner_text()
            assert "Ann" in body and "Bo" in body and "Intruder" not in body

            # Ann stops her camera: she is shown absent, Bo stays present.
            click_in_frames(ann, "STOP")
            wait_for(lambda: metrics(teacher).get("Present") == "1", 30, "Ann shown absent", teacher, "absent")
            assert metrics(teacher)["Absent"] == "1"
            teacher.screenshot(path=str(ARTIFACTS / "4-dashboard-one-absent.png"), full_page=True)
            assert "Intruder" not in teacher.locator("body").inner_text()

            # A wrong key opens no dashboard.
            stranger = teacher_browser.new_context().new_page()
            stranger.goto(f"{url}/dashboard?room={code}&key=AAAA-BBBB-CCCC-DDDD")
            wait_for(lambda: "does not open that room" in stranger.locator("body").inner_text(), 30, "the refusal")
            assert stranger.locator("[data-testid='stMetric']").count() == 0
            stranger.screenshot(path=str(ARTIFACTS / "5-wrong-key.png"), full_page=True)
            store.close()
        except BaseException:
            for name, student_page in locals().get("pages", {}).items():
                student_page.screenshot(path=str(ARTIFACTS / f"FAILED-student-{name}.png"), full_page=True)
            raise
        finally:
            for browser in (teacher_browser, *students):
                browser.close()

    # Privacy: no image or video file was written under the data directory, the server's temporary
    # directory or the app's folder (runs/ holds training outputs, which a training job may be
    # writing meanwhile; the app never writes there).
    written = [
        path for base in (data_dir, server_tmp, ROOT) for path in base.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and path.stat().st_mtime >= started
        and ARTIFACTS not in path.parents and ROOT / "runs" not in path.parents
        and ".venv" not in path.parts and ".git" not in path.parts
    ]
    assert written == []
    assert {p.suffix for p in data_dir.rglob("*") if p.is_file()} <= {".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ""}
