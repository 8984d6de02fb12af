"""Driving ClassMood in a real headless Chromium: app servers, fake cameras, page helpers.

Shared by the browser tests (test_e2e_browser.py, test_e2e_deploy.py) and by
scripts/browser_load.py, so nothing here needs pytest: a helper that gives up raises an
``AssertionError`` (a test failure) or :class:`NoCameraFace` (which a test turns into a skip).
What was learnt about Chromium, fake cameras and WebRTC on one host is in
shared/notes/browser-webrtc-test.md.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from waiting import end_process

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
CAMERA_FLAG = "--use-file-for-fake-video-capture="

#: The settings of a test server: a small, slow camera and one analysis a second keep two
#: students affordable on a 2-core CI machine (signalling gives up after 10 s on a starved server).
TEST_SERVER_ENV = {
    "CLASSMOOD_ICE_SERVERS": "[]",
    "CLASSMOOD_ANALYSIS_FPS": "1",
    "CLASSMOOD_PRESENCE_TIMEOUT_S": "6",
    "CLASSMOOD_CAMERA_WIDTH": "320",
    "CLASSMOOD_CAMERA_FPS": "5",
    "CLASSMOOD_SAMPLE_INTERVAL_S": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}

#: ``python -c`` bootstrap of the server: the app's own loggers (``fer.*`` and ``ui.*``, e.g.
#: fer.classroom.live's "stopping its worker", ui.camera's context resets) go to stderr at
#: INFO, then Streamlit's CLI runs as ``python -m streamlit`` would. Streamlit configures only its own loggers, so without this the app's
#: INFO lines are dropped. ``kill -USR1`` makes it write every thread's stack to its log. With
#: ``CLASSMOOD_TRACE_WORKER_STOP`` set, every ``WebRtcWorker.stop`` logs the stack that called it
#: (which of streamlit-webrtc's paths ended a stream; shared/notes/live-path.md).
_SERVER_BOOT = (
    "import faulthandler, logging, signal, sys\n"
    "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
    "handler = logging.StreamHandler(sys.stderr)\n"
    "handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))\n"
    "for name in ('fer', 'ui'):\n"
    "    logging.getLogger(name).setLevel(logging.INFO)\n"
    "    logging.getLogger(name).addHandler(handler)\n"
    "import os\n"
    "if os.environ.get('CLASSMOOD_TRACE_WORKER_STOP'):\n"
    "    import importlib.abc, importlib.machinery, traceback\n"
    "    def _trace(module):\n"
    "        stop = module.WebRtcWorker.stop\n"
    "        def traced_stop(self, *args, **kwargs):\n"
    "            logging.getLogger('fer.trace').warning('WebRtcWorker.stop (ICE %s) from:\\n%s',\n"
    "                getattr(self.pc, 'iceConnectionState', '?'), ''.join(traceback.format_stack()[:-1]))\n"
    "            return stop(self, *args, **kwargs)\n"
    "        module.WebRtcWorker.stop = traced_stop\n"
    "    class _Finder(importlib.abc.MetaPathFinder):\n"
    "        # Patched once imported by the app: importing it here, before Streamlit's runtime\n"
    "        # exists, would register the component where the runtime never finds it.\n"
    "        def find_spec(self, name, path, target=None):\n"
    "            if name != 'streamlit_webrtc.webrtc':\n"
    "                return None\n"
    "            spec = importlib.machinery.PathFinder.find_spec(name, path)\n"
    "            run = spec.loader.exec_module\n"
    "            def exec_module(module):\n"
    "                run(module)\n"
    "                _trace(module)\n"
    "            spec.loader.exec_module = exec_module\n"
    "            return spec\n"
    "    sys.meta_path.insert(0, _Finder())\n"
    "from streamlit.web.cli import main\n"
    "main(prog_name='streamlit')\n"
)


class NoCameraFace(LookupError):
    """No FER-2013 face was found that the detector sees through a lossy video codec."""


def write_y4m(path: Path, frame_bgr: np.ndarray, frames: int = 5, fps: int = 5) -> None:
    """A YUV4MPEG2 file Chromium plays, looped, as its webcam."""
    import cv2

    height, width = frame_bgr.shape[:2]
    yuv = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + yuv)


def camera_scene(fer_split, seed: int, size: tuple[int, int] = (320, 240), face_px=(100, 120)) -> np.ndarray:
    """A webcam-like frame with one real FER-2013 face that our detector finds."""
    import cv2

    from fer.bench.scenes import compose
    from fer.config import AppConfig
    from fer.vision.detect import make_detector

    detector = make_detector(AppConfig().detector)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        # 320x240 at 5 fps by default: a small camera keeps several students' video codecs
        # affordable on a 2-core machine.
        scene = compose(fer_split.images, fer_split.labels, 1, rng, size=size, face_px=face_px)
        # The browser sends the frame through a lossy video codec: the face must survive that too.
        degraded = cv2.imdecode(cv2.imencode(".jpg", scene.frame, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], cv2.IMREAD_COLOR)
        if len(detector.detect(scene.frame)) == 1 and len(detector.detect(degraded)) == 1:
            return scene.frame
    raise NoCameraFace("no FER-2013 face found by the detector for the fake camera")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """One real ``streamlit run streamlit_app.py`` on a free loopback port.

    ``env`` is added to this process's environment (``REDIS_URL`` is removed unless given);
    the server's output, including the app's ``fer.*`` log lines at INFO, goes to ``log_path``.
    Use it as a context manager; :meth:`stop` terminates it (and kills it if it hangs).
    """

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None,
                 tmp_dir: Path | None = None, start_timeout: float = 90):
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.tmp_dir = tmp_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        self.env = {**os.environ, **TEST_SERVER_ENV, "CLASSMOOD_DATA_DIR": str(self.data_dir), **(env or {})}
        if env is None or "REDIS_URL" not in env:
            self.env.pop("REDIS_URL", None)
        if tmp_dir is not None:
            self.env["TMPDIR"] = str(tmp_dir)
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> "AppServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER_BOOT, "run", "streamlit_app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"streamlit did not start on port {self.port}; see {self.log_path}")
            time.sleep(0.5)

    def dump_threads(self) -> None:
        """Have the server write every thread's Python stack to its log (to see what hangs)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGUSR1)
            time.sleep(1)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        end_process(self.process, 15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- Browsers


def launch_browser(playwright, camera: Path | None = None):
    """A headless Debian Chromium, with ``camera`` (a .y4m file) as its webcam."""
    args = CHROME_FLAGS + ([f"{CAMERA_FLAG}{camera}"] if camera is not None else [])
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    children, found, todo = _children(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    """The arguments of ``pid``; Chromium's child processes rewrite theirs into one string."""
    try:
        args = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return []
    return args[0].split() if len(args) == 1 else args


def is_chromium(pid: int) -> bool:
    args = cmdline(pid)
    return bool(args) and Path(args[0]).name in ("chromium", "chrome")


def browser_pids(camera: Path | None = None) -> list[int]:
    """Main Chromium processes started by this process (through Playwright's driver); with
    ``camera``, only the one whose fake webcam plays that file."""
    pids = []
    for pid in descendants(os.getpid()):
        args = cmdline(pid)
        if not is_chromium(pid) or any(a.startswith("--type=") for a in args):
            continue
        if camera is None or f"{CAMERA_FLAG}{camera}" in args:
            pids.append(pid)
    return pids


def kill_browser(camera: Path) -> list[int]:
    """Kill the Chromium playing ``camera`` and all its processes with SIGKILL, as a crash or a
    killed laptop would: no page unload, no WebRTC close, nothing more is sent. Returns the pids."""
    mains = browser_pids(camera)
    if not mains:
        raise AssertionError(f"no Chromium process found with the camera {camera}")
    victims = [p for main in mains for p in (main, *descendants(main))]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return victims


# --- Pages


def require_chromium():
    """playwright's sync API for a browser test, or a skip that names what is missing.

    For tests only (it imports pytest); at a module's top it skips the whole module."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (browser tests)")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return sync_api


@contextmanager
def shots_on_failure(pages: dict, prefix: str, folder: Path = ARTIFACTS):
    """On any failure inside the block, a full-page screenshot of each page in ``pages`` (read
    when it fails, so pages opened inside the block count) as FAILED-``prefix``-<name>.png."""
    try:
        yield
    except BaseException:
        folder.mkdir(parents=True, exist_ok=True)
        for name, page in pages.items():
            try:
                page.screenshot(path=str(folder / f"FAILED-{prefix}-{name}.png"), full_page=True)
            except Exception:  # a closed or crashed page: the original failure matters more
                pass
        raise


def metrics(page) -> dict[str, str]:
    values = {}
    for element in page.locator("[data-testid='stMetric']").all():
        label = element.locator("[data-testid='stMetricLabel']").inner_text().strip()
        values[label] = element.locator("[data-testid='stMetricValue']").inner_text().strip()
    return values


def wait_for(predicate, timeout: float, what: str, page=None, shot: str | None = None, poll: float = 1.0):
    """``predicate()``'s first truthy value; an ``AssertionError`` (after a screenshot of
    ``page`` as FAILED-``shot``.png) when there is none within ``timeout`` seconds."""
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
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{shot}.png"), full_page=True)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


#: What the join page says once the server receives the student's video (pages/2_join.py).
LIVE_TEXT = "Camera on: your video reaches the server."


def page_button(page, name: str):
    """The page's own button called exactly ``name`` (Playwright's default match is a substring)."""
    return page.get_by_role("button", name=re.compile(f"^{re.escape(name)}$"))


def streaming(page) -> bool:
    """Whether the student's page says the server receives their video."""
    return page.get_by_text(LIVE_TEXT, exact=True).count() > 0


def start_camera(page, timeout: float = 90, presses: int = 3) -> int:
    """Wait until the student's video reaches the server; returns the presses it took.

    The consent's "Start my camera" (in :func:`join_as`) is the first press: the camera is
    then started by the app. Only if it is not live within ``timeout`` seconds is "Turn my
    camera on" pressed, as a student would; scripts/browser_load.py fails a run in which any
    student needed that second press.
    """
    for pressed in range(1, presses + 1):
        try:
            wait_for(lambda: streaming(page), timeout, "the student's video to reach the server")
            return pressed
        except AssertionError:
            if pressed == presses:
                break
            button = page_button(page, "Turn my camera on")
            if button.count():
                button.first.click()
    wait_for(lambda: streaming(page), 1, f"the camera to start after {presses} presses", page, "camera-start")
    return presses


def stop_camera(page) -> None:
    """The student turns their camera off with the page's button."""
    wait_for(lambda: page_button(page, "Turn my camera off").count(), 30, "the camera's off button",
             page, "camera-off")
    page_button(page, "Turn my camera off").first.click()


def student_context(browser):
    """A student's browser context: the camera allowed, a laptop-sized window."""
    return browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900})


def join_as(browser, url: str, code: str, name: str):
    """Join and consent, up to the camera component's START button (not pressed yet)."""
    return join_in(student_context(browser), url, code, name)


def join_in(context, url: str, code: str, name: str):
    """:func:`join_as` in a browser context made by the caller (with its cookies, scripts)."""
    page = context.new_page()
    page.goto(f"{url}/join?room={code}")
    page.get_by_label("Your display name (what the teacher sees)").fill(name)
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("I understand and agree").click()
    page.get_by_role("button", name="Start my camera").click()
    return page


def open_room(teacher, url: str, lecture: str) -> tuple[str, str]:
    """Open a room on the start page: ``(room code, teacher key)``; the teacher's browser is
    signed in from then on (a session cookie), so the dashboard opens without the key."""
    teacher.goto(f"{url}/start")
    teacher.get_by_label("Lecture name").fill(lecture)
    teacher.get_by_role("button", name="Open the room").click()
    wait_for(lambda: teacher.locator("[data-testid='stCode']").count() >= 3, 30, "the room code", teacher, "start")
    codes = [c.inner_text().strip() for c in teacher.locator("[data-testid='stCode']").all()]
    code, key = codes[0], codes[2]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code) and f"room={code}" in codes[1], codes
    return code, key


def open_dashboard(teacher, url: str, code: str, key: str, timeout: float = 60) -> None:
    """The room's dashboard in ``teacher``'s browser: at once when it is signed in, else by
    typing the key into the form (never a URL: the key is not read from one)."""
    teacher.goto(f"{url}/dashboard?room={code}")
    form = teacher.get_by_label("Teacher key")
    opened = wait_for(lambda: ("form" if form.count() else None) or ("dashboard" if metrics(teacher) else None),
                      timeout, "the dashboard or its key form", teacher, "dashboard-gate")
    if opened == "form":
        form.fill(key)
        teacher.get_by_role("button", name="Open").click()
    wait_for(lambda: "Students joined" in metrics(teacher), timeout, "the dashboard", teacher, "dashboard")
