"""How many real students one app server carries: Chromium students with fake cameras, end to end.

For each class size N (default 1, 2, 4, 6) this starts a fresh ``streamlit run`` server with its
own temporary data directory (SQLite store), opens a room through the store, opens the
teacher's dashboard in a headless Chromium (as in a lecture), measures the server idle with
only the dashboard open, and launches N students, each in its own Chromium process with its
own fake webcam (a .y4m of a real FER-2013 face on a photo, 640x480 at 15 fps by default,
what a laptop webcam gives; the browser scales and paces it to the app's request, 320 pixels
at 10 fps; ``--noise`` adds a webcam's sensor noise to each frame). Each student joins, consents and presses
"Start my camera" once; once every student is present it measures for ``--seconds``, then
ends the lecture and measures again. It prints one markdown table row per run:

- presses: the most presses any student needed (the run FAILS above 1: a student who had
  to press twice is a student the class nearly lost);
- stream restarts: how often the app restarted a stream that ended without the student
  asking, from joining to the end of the window (the server's log); on loopback every one
  is a fault of the live path, not of a network;
- all present after: seconds from the first press until every student had a face sample;
- frames received and analyzed per second per student, read from each student's page
  ("Frames analyzed: A of R received"): received is what the browser really sends;
- the server's CPU % over the window (utime+stime of /proc/<pid>/stat, its threads and children;
  100 % = one core), the idle CPU % before anyone joined, and per student
  (window - idle) / N;
- the capacity this projects for a 2-core server: (200 - idle) / per student, students;
- the server's CPU % after the lecture ended (every stream stopped: back to idle);
- all Chromium processes' CPU %, and the whole machine's (what else ran).

A run FAILS when a student needed a second press, was not present in time, stopped
streaming during the window, got fewer than ``--min-fps`` (2) analyzed frames a second in it,
or was not told that the lecture ended; ``--repeat K`` runs each
size K times and prints how many passed. With ``--pin`` the server runs on core 0 and the
browsers on core 1 (from about six students the browsers' software video encoders starve the
server otherwise; say so beside any figure).

Needs Debian's chromium, playwright and the FER-2013 data set (as the browser tests). Run:

    .venv/bin/python scripts/browser_load.py --students 1,2,4,6 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import (  # noqa: E402  (tests/browser.py: the browser tests' helpers)
    ARTIFACTS,
    AppServer,
    camera_scene,
    descendants,
    is_chromium,
    join_in,
    launch_browser,
    metrics,
    open_dashboard,
    start_camera,
    streaming,
    student_context,
    wait_for,
    write_y4m,
)

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = True) -> float:
    """utime+stime of ``pid`` (with ``children``: plus its waited-for children's); 0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICKS


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and every live process below it."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


def rss_mb(pid: int) -> float:
    total = 0.0
    for p in (pid, *descendants(pid)):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def chromium_pids() -> list[int]:
    """Every Chromium process (browser, renderer, GPU, utility) started by this script."""
    return [pid for pid in descendants(os.getpid()) if is_chromium(pid)]


def chromium_cpu() -> dict[int, float]:
    # Own time only: a browser's waited-for children are counted once, below, while they live.
    return {pid: cpu_seconds(pid, children=False) for pid in chromium_pids()}


def machine_busy() -> tuple[float, float]:
    """(busy, total) seconds of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass
class Row:
    students: int
    presses: int
    restarts: int
    all_present_s: float
    fps_min: float
    fps_mean: float
    received_fps: float
    sent_kbps: float
    idle_cpu: float
    server_cpu: float
    ended_cpu: float
    server_rss: float
    chromium_cpu: float
    machine_cpu: float
    failure: str | None = None

    @property
    def per_student(self) -> float:
        return max(0.0, self.server_cpu - self.idle_cpu) / self.students

    @property
    def capacity(self) -> float:
        return (200.0 - self.idle_cpu) / self.per_student if self.per_student > 0 else float("inf")

    def markdown(self) -> str:
        verdict = "pass" if self.failure is None else f"FAIL: {self.failure}"
        return (
            f"| {self.students} | {self.presses} | {self.restarts} | {self.all_present_s:.1f} | {self.received_fps:.1f} | {self.sent_kbps:.0f} | "
            f"{self.fps_min:.2f} / {self.fps_mean:.2f} | "
            f"{self.idle_cpu:.0f} | {self.server_cpu:.0f} | {self.per_student:.1f} | {self.capacity:.0f} | "
            f"{self.ended_cpu:.0f} | {self.server_rss:.0f} | {self.chromium_cpu:.0f} | {self.machine_cpu:.0f} | {verdict} |"
        )


HEADER = (
    "| students | presses (max) | stream restarts | all present after (s) | received fps /student | sent kbit/s /student | analyzed fps /student (min / mean) "
    "| server CPU % idle "
    "| server CPU % | per student % | projected 2-core capacity | CPU % after the end | server RSS MB "
    "| Chromium CPU % (all) | machine CPU % | run |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)

ANALYZED = re.compile(r"Frames analyzed: (\d+) of (\d+) received")
#: fer.classroom.live's log line when the app restarts a stream that ended unasked.
RESTART = re.compile(r"camera \w+: \w+ -> reconnecting")


def analyzed_frames(page, deadline_s: float = 10.0) -> tuple[int, int] | None:
    """The analyzed and received frame counts the student's page shows (pages/2_join.py).

    The status fragment redraws itself every few seconds, so one read can fall between two
    drawings; it is read again until ``deadline_s``. ``None`` means the page never showed them."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            match = ANALYZED.search(page.locator("body").inner_text(timeout=5000))
        except Exception:
            match = None
        if match:
            return int(match.group(1)), int(match.group(2))
        if time.monotonic() >= end:
            return None
        page.wait_for_timeout(500)


TRACKS = """() => Array.from(document.querySelectorAll("video")).flatMap(v => v.srcObject ? v.srcObject.getVideoTracks() : [])
  .map(t => { const s = t.getSettings(); return `${s.width}x${s.height} at ${Math.round(s.frameRate)} fps`; })"""


def in_every_frame(page, script: str) -> list:
    """``(frame, result)`` of ``script`` in each frame of ``page`` (the page, the camera
    component's iframe, the preview's); a frame that is gone or refuses is left out."""
    results = []
    for frame in page.frames:
        try:
            results.append((frame, frame.evaluate(script)))
        except Exception:
            pass
    return results


def camera_tracks(page) -> list[str]:
    """What each camera track of the student's page delivers (the sent stream's and the preview's)."""
    return [f"{'component' if 'streamlit_webrtc' in frame.url else 'preview'} {t}"
            for frame, tracks in in_every_frame(page, TRACKS) for t in tracks]


# Every RTCPeerConnection a page (or its component iframe) makes, kept for ``sent_bytes``.
KEEP_PEERS = """(() => { const P = window.RTCPeerConnection; if (!P) return; window.__peers = [];
  window.RTCPeerConnection = class extends P { constructor(...a) { super(...a); window.__peers.push(this);
    const id = window.__peers.length, say = (what) => console.log(`peer ${id}: ${what}`);
    say("created"); this.addEventListener("icegatheringstatechange", () => say(`gathering ${this.iceGatheringState}`));
    this.addEventListener("iceconnectionstatechange", () => say(`ice ${this.iceConnectionState}`));
    this.addEventListener("connectionstatechange", () => say(`connection ${this.connectionState}`));
    this.addEventListener("signalingstatechange", () => say(`signaling ${this.signalingState}`)); } }; })();"""
SENT = """async () => { let sent = 0; for (const pc of (window.__peers || [])) {
  (await pc.getStats()).forEach(s => { if (s.type === "outbound-rtp" && s.kind === "video") sent += s.bytesSent; }); }
  return sent; }"""


CAPS = """() => (window.__peers || []).map(pc => pc.remoteDescription ?
  ((pc.remoteDescription.sdp.match(/b=(AS|TIAS):\\d+/) || ["no cap"])[0]) : "no answer")"""


def answer_caps(page) -> list[str]:
    """The bitrate cap of each answer the student's browser was given (``b=AS`` in kbit/s, or
    ``b=TIAS`` in bit/s, which Chrome keeps in its place when the answer had both)."""
    return [cap for _, caps in in_every_frame(page, CAPS) for cap in caps]


def sent_bytes(page) -> int:
    """Video bytes the student's browser has sent so far, from its own WebRTC statistics."""
    return sum(int(sent) for _, sent in in_every_frame(page, SENT))


def write_noisy_y4m(path: Path, frame_bgr, sigma: float, fps: int, frames: int = 15) -> None:
    """Like tests/browser.py's ``write_y4m``, but every frame with fresh sensor noise (Gaussian,
    ``sigma`` gray levels), as a real webcam: a still frame costs the browser's encoder and the
    server's decoder almost nothing after the first key frame, a real camera does not."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    height, width = frame_bgr.shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            noisy = np.clip(frame_bgr + rng.normal(0, sigma, frame_bgr.shape), 0, 255).astype(np.uint8)
            out.write(b"FRAME\n" + cv2.cvtColor(noisy, cv2.COLOR_BGR2YUV_I420).tobytes())


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of ``pid`` onto ``cores`` (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cores)
        except OSError:
            pass


def window_cpu(pid: int, seconds: float, page=None) -> tuple[float, dict, tuple, float]:
    """(server CPU %, Chromium seconds per pid at the start, machine busy at the start, window) over ``seconds``."""
    server0, chrome0, machine0, t0 = tree_cpu(pid), chromium_cpu(), machine_busy(), time.monotonic()
    if page is not None:
        page.wait_for_timeout(seconds * 1000)  # the sync API learns of page events only while it runs
    else:
        time.sleep(seconds)
    window = time.monotonic() - t0
    return 100 * (tree_cpu(pid) - server0) / window, chrome0, machine0, window


def measure(n: int, args, fer_split, sync_api, workdir: Path) -> Row:
    from fer.classroom.store.factory import open_store
    from fer.config import AppConfig

    env = {
        "CLASSMOOD_ANALYSIS_FPS": str(args.analysis_fps),
        "CLASSMOOD_CAMERA_WIDTH": str(args.request_width),
        "CLASSMOOD_CAMERA_FPS": str(args.request_fps),
        "CLASSMOOD_CAMERA_KBPS": str(args.kbps),
        "CLASSMOOD_PRESENCE_TIMEOUT_S": str(args.presence_timeout),
        "CLASSMOOD_SAMPLE_INTERVAL_S": "1",
        "CLASSMOOD_STATUS_INTERVAL_S": str(args.status_interval),
        "CLASSMOOD_CHART_REFRESH_S": str(args.chart_refresh),
    }
    env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "true" if args.post_script_gc else "false"
    if args.trace_stops:
        env["CLASSMOOD_TRACE_WORKER_STOP"] = "1"
    if args.model:
        env["CLASSMOOD_MODEL_PATH"] = str(args.model)
    cameras = []
    for i in range(n):
        path = workdir / f"camera{i}.y4m"
        scene = camera_scene(fer_split, seed=i + 1, size=(args.width, args.height))
        if args.noise > 0:
            write_noisy_y4m(path, scene, args.noise, fps=int(args.fps))
        else:
            write_y4m(path, scene, frames=5, fps=int(args.fps))
        cameras.append(path)

    with AppServer(workdir / f"data{n}", workdir / f"server{n}.log", env) as server:
        if args.pin:
            pin(server.pid, {0})
            os.sched_setaffinity(0, {1})  # this script, Playwright's driver and the browsers it starts
        config = AppConfig.from_env(server.env)
        with open_store(config) as store, sync_api.sync_playwright() as p:
            code, key = store.create_room(f"Load test, {n} students")
            teacher_browser = launch_browser(p)
            teacher = teacher_browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
            open_dashboard(teacher, server.url, code, key)
            wait_for(lambda: metrics(teacher).get("Students joined") == "0", 60, "the teacher's dashboard")
            teacher.wait_for_timeout(3000)
            idle_cpu = window_cpu(server.pid, args.idle_seconds, teacher)[0]

            browsers = [launch_browser(p, camera) for camera in cameras]
            started = time.monotonic()
            contexts = [student_context(b) for b in browsers]
            for context in contexts:
                context.add_init_script(KEEP_PEERS)
            pages = [join_in(c, server.url, code, f"Student {i + 1}") for i, c in enumerate(contexts)]
            console = {i: [] for i in range(n)}
            for i, page in enumerate(pages):
                page.on("console", lambda m, i=i: console[i].append(f"{time.monotonic():.2f} {m.type}: {m.text[:300]}"))

            def all_present():
                recent = store.samples(code, start=time.time() - config.presence_timeout_s)
                return len({s.student_id for s in recent if s.probs is not None}) == n

            def keep_failure(what: str) -> None:
                # What each student saw and the server's threads, for whoever looks into it.
                server.dump_threads()
                for i, page in enumerate(pages):
                    try:
                        page.screenshot(path=str(ARTIFACTS / f"FAILED-load-{n}-student{i + 1}.png"), full_page=True)
                    except Exception:
                        pass
                    (ARTIFACTS / f"FAILED-load-{n}-student{i + 1}-console.txt").write_text("\n".join(console[i]))
                print(f"N={n}: {what}", file=sys.stderr)

            failure = None
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:
                presses = max(start_camera(page, timeout=args.join_timeout) for page in pages)
                wait_for(all_present, args.join_timeout, f"all {n} students present", teacher, f"load-{n}", poll=0.25)
            except AssertionError as error:
                keep_failure(str(error))
                raise
            all_present_s = time.monotonic() - started
            if presses > 1:
                failure = f"a student had to press {presses} times"

            teacher.wait_for_timeout(args.warmup * 1000)
            print(f"N={n}: camera tracks of student 1: {', '.join(camera_tracks(pages[0])) or '?'}; "
                  f"answer: {', '.join(answer_caps(pages[0])) or '?'}", file=sys.stderr)
            frames0 = [analyzed_frames(page) for page in pages]
            sent0 = [sent_bytes(page) for page in pages]
            server_cpu, chrome0, machine0, window = window_cpu(server.pid, args.seconds, teacher)
            chrome1, machine1 = chromium_cpu(), machine_busy()
            sent1 = [sent_bytes(page) for page in pages]
            frames1 = [analyzed_frames(page) for page in pages]
            sent_kbps = sum(b - a for a, b in zip(sent0, sent1)) * 8 / 1000 / window / n
            restarts = len(RESTART.findall(server.log_path.read_text(errors="replace")))
            rss = rss_mb(server.pid)
            teacher.screenshot(path=str(workdir / f"dashboard{n}.png"))
            fps = [(b[0] - a[0]) / window if a and b else 0.0 for a, b in zip(frames0, frames1)]
            received = [(b[1] - a[1]) / window if a and b else 0.0 for a, b in zip(frames0, frames1)]
            dropped = [i + 1 for i, page in enumerate(pages) if not streaming(page)]
            if dropped and failure is None:
                failure = f"student(s) {dropped} stopped streaming during the window"
            unread = [i + 1 for i, (a, b) in enumerate(zip(frames0, frames1)) if not (a and b)]
            if unread and failure is None:
                failure = f"student(s) {unread}: the page showed no frame counts"
            slow = [i + 1 for i, rate in enumerate(fps) if rate < args.min_fps]
            if slow and failure is None:
                failure = f"student(s) {slow} got under {args.min_fps:g} analyzed fps"

            # The teacher ends the lecture: every page must say so, and the server go back to idle.
            store.close_room(code)
            try:
                for page in pages:
                    wait_for(lambda page=page: "The lecture has ended" in page.locator("body").inner_text(), 30,
                             "every student told that the lecture ended", page, f"load-{n}-ended")
            except AssertionError as error:
                failure = failure or str(error)
            teacher.wait_for_timeout(3000)
            ended_cpu = window_cpu(server.pid, args.idle_seconds, teacher)[0]
            if failure is not None:
                keep_failure(failure)
            for i in range(n):  # every run's, for a slow start that did not fail
                (workdir / f"student{i + 1}-console.txt").write_text("\n".join(console[i]))
            for b in (teacher_browser, *browsers):
                b.close()
        if args.pin:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))

    chrome_s = sum(chrome1.get(pid, 0.0) - chrome0.get(pid, 0.0) for pid in chrome1)
    return Row(
        students=n,
        presses=presses,
        restarts=restarts,
        all_present_s=all_present_s,
        fps_min=min(fps),
        fps_mean=sum(fps) / len(fps),
        received_fps=sum(received) / len(received),
        sent_kbps=sent_kbps,
        idle_cpu=idle_cpu,
        server_cpu=server_cpu,
        ended_cpu=ended_cpu,
        server_rss=rss,
        chromium_cpu=100 * chrome_s / window,
        machine_cpu=100 * (machine1[0] - machine0[0]) / window,
        failure=failure,
    )


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", default="1,2,4,6", help="class sizes to measure, comma separated (default 1,2,4,6)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per class size (default 1)")
    parser.add_argument("--seconds", type=float, default=30, help="measurement window per run (default 30)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds after all are present before measuring")
    parser.add_argument("--idle-seconds", type=float, default=10, help="window of the idle and after-the-end figures")
    parser.add_argument("--width", type=int, default=640, help="fake camera width (default 640)")
    parser.add_argument("--height", type=int, default=480, help="fake camera height (default 480)")
    parser.add_argument("--fps", type=float, default=15, help="fake camera frame rate (default 15)")
    parser.add_argument("--noise", type=float, default=0,
                        help="sensor noise of the fake cameras, gray levels (default 0: a still frame)")
    parser.add_argument("--request-width", type=int, default=0, help="CLASSMOOD_CAMERA_WIDTH (default: the app's)")
    parser.add_argument("--request-fps", type=float, default=0, help="CLASSMOOD_CAMERA_FPS (default: the app's)")
    parser.add_argument("--kbps", type=int, default=-1, help="CLASSMOOD_CAMERA_KBPS, 0 for no cap (default: the app's)")
    parser.add_argument("--analysis-fps", type=float, default=3, help="CLASSMOOD_ANALYSIS_FPS (default 3, the app's)")
    parser.add_argument("--status-interval", type=float, default=3, help="CLASSMOOD_STATUS_INTERVAL_S (default 3, the app's)")
    parser.add_argument("--chart-refresh", type=float, default=0,
                        help="CLASSMOOD_CHART_REFRESH_S, the dashboard's chart redraws (default: the app's)")
    parser.add_argument("--post-script-gc", action="store_true", help="Streamlit's runner.postScriptGC on (the app has it off)")
    parser.add_argument("--presence-timeout", type=float, default=5, help="CLASSMOOD_PRESENCE_TIMEOUT_S (default 5)")
    parser.add_argument("--model", type=Path, default=None, help="CLASSMOOD_MODEL_PATH (default: the app's default)")
    parser.add_argument("--min-fps", type=float, default=2.0,
                        help="a run fails if any student got fewer analyzed frames a second (default 2)")
    parser.add_argument("--join-timeout", type=float, default=90, help="seconds allowed until all are present")
    parser.add_argument("--pin", action="store_true", help="server on core 0, browsers on core 1")
    parser.add_argument("--trace-stops", action="store_true", help="log the stack of every WebRtcWorker.stop")
    args = parser.parse_args(argv)
    from fer.config import AppConfig

    args.request_width = args.request_width or AppConfig().camera_width
    args.request_fps = args.request_fps or AppConfig().camera_fps
    args.kbps = AppConfig().camera_kbps if args.kbps < 0 else args.kbps
    args.chart_refresh = args.chart_refresh or AppConfig().chart_refresh_s
    sizes = [int(n) for n in args.students.split(",")]

    # A SIGTERM (a CI timeout) unwinds like Ctrl-C, so every server and browser is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from playwright import sync_api
    except ImportError:
        print("playwright is not installed (pip install playwright)", file=sys.stderr)
        return 2
    from fer.bench.scenes import fer_faces

    fer_split = fer_faces("PrivateTest")
    if fer_split is None:
        print("FER-2013 not found (set FER2013_PATH)", file=sys.stderr)
        return 2

    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "?")
    cap = f"at most {args.kbps} kbit/s" if args.kbps else "no bitrate cap"
    print(f"Command: `{shlex.join([sys.executable, *sys.argv])}`  ")
    print(f"Machine: {os.cpu_count()} cores ({cpu_model}), load average at start "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}  ")
    print(f"Camera {args.width}x{args.height} at {args.fps:g} fps per student (asked for width "
          f"{args.request_width}, {args.request_fps:g} fps, {cap}), analysis {args.analysis_fps:g} fps, "
          f"sensor noise {args.noise:g}, status every {args.status_interval:g} s, dashboard charts every {args.chart_refresh:g} s, postScriptGC {'on' if args.post_script_gc else 'off'}, "
          f"one sample a second, a teacher dashboard open, each student in its own Chromium"
          f"{', server pinned to core 0 and browsers to core 1' if args.pin else ''}.\n", flush=True)
    rows, passed = [], {}
    with tempfile.TemporaryDirectory(prefix="classmood-browser-load-") as tmp:
        try:
            for n, run in ((n, run) for n in sizes for run in range(args.repeat)):
                workdir = Path(tmp) / f"n{n}-{run}"
                workdir.mkdir()
                try:
                    row = measure(n, args, fer_split, sync_api, workdir)
                    rows.append(row.markdown())
                    failed = row.failure is not None
                except Exception as error:  # not everyone present in time, a page that never loaded: results too
                    if not isinstance(error, (AssertionError, sync_api.Error)):
                        raise
                    rows.append(f"| {n} | | | FAIL: {str(error).splitlines()[0]} | | | | | | | | | | | | |")
                    failed = True
                passed[n] = passed.get(n, 0) + (not failed)
                if failed:
                    kept = ARTIFACTS / f"FAILED-load-{n}-run{run}-server.log"
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(workdir / f"server{n}.log", kept)  # the temporary folder goes away
                    print(f"server log kept: {kept}", file=sys.stderr)
                else:
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(workdir / f"server{n}.log", ARTIFACTS / f"load-{n}-run{run}-server.log")
                    for log in workdir.glob("student*-console.txt"):
                        shutil.copyfile(log, ARTIFACTS / f"load-{n}-run{run}-{log.name}")
                print(f"N={n} done: {rows[-1]}", file=sys.stderr, flush=True)
        finally:
            for pid in chromium_pids():  # any browser the driver did not take down
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    print(HEADER)
    for row in rows:
        print(row)
    print()
    for n, count in passed.items():
        print(f"{n} students: {count} of {args.repeat} runs passed  ")
    return 0 if all(count == args.repeat for count in passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
