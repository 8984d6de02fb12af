"""How many real students one app server carries: Chromium students with fake cameras, end to end.

For each class size N (default 1, 2, 4) this starts a fresh ``streamlit run`` server with its
own temporary data directory (SQLite store), opens a room through the store, opens the
teacher's dashboard in a headless Chromium (as in a lecture, it costs the server a rerun a
second), and launches N students, each in its own Chromium process with its own fake webcam
(a .y4m of a real FER-2013 face on a photo). Once every student is present it measures for
``--seconds`` and prints one markdown table row per N:

- all present after: seconds from the first START press until every student had a face sample;
- samples with a face per student per second (read back from the store over the window; the
  server stores at most one per ``CLASSMOOD_SAMPLE_INTERVAL_S``), min and mean over students;
- share of the window's samples that had a face;
- the server's CPU % (utime+stime of /proc/<pid>/stat over the window, its children included;
  100 % = one core) and its RSS at the end;
- all Chromium processes' CPU % (N students and the teacher, every Chromium process);
- the whole machine's CPU % (/proc/stat; 100 % = one core), which shows what else ran.

Needs Debian's chromium, playwright and the FER-2013 data set (as the browser tests). Run:

    .venv/bin/python scripts/browser_load.py --students 1,2,4 --seconds 30
"""

from __future__ import annotations

import argparse
import os
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
    ARTIFACTS, AppServer, camera_scene, descendants, is_chromium, join_as, launch_browser, metrics, open_dashboard,
    start_camera, wait_for, write_y4m,
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
    all_present_s: float
    face_rate_min: float
    face_rate_mean: float
    face_share: float
    server_cpu: float
    server_rss: float
    chromium_cpu: float
    machine_cpu: float

    def markdown(self) -> str:
        return (
            f"| {self.students} | {self.all_present_s:.1f} | {self.face_rate_min:.2f} / {self.face_rate_mean:.2f} | "
            f"{self.face_share:.0%} | {self.server_cpu:.0f} | {self.server_rss:.0f} | {self.chromium_cpu:.0f} | "
            f"{self.machine_cpu:.0f} |"
        )


HEADER = (
    "| students | all present after (s) | face samples /student/s (min / mean) | share with a face "
    "| server CPU % | server RSS MB | Chromium CPU % (all) | machine CPU % |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def measure(n: int, args, fer_split, sync_api, workdir: Path) -> Row:
    from fer.config import AppConfig
    from fer.classroom.store.factory import open_store

    env = {
        "CLASSMOOD_ANALYSIS_FPS": str(args.analysis_fps),
        "CLASSMOOD_CAMERA_WIDTH": str(args.width),
        "CLASSMOOD_CAMERA_FPS": str(args.fps),
        "CLASSMOOD_PRESENCE_TIMEOUT_S": str(args.presence_timeout),
        "CLASSMOOD_SAMPLE_INTERVAL_S": "1",
    }
    if args.model:
        env["CLASSMOOD_MODEL_PATH"] = str(args.model)
    cameras = []
    for i in range(n):
        path = workdir / f"camera{i}.y4m"
        write_y4m(path, camera_scene(fer_split, seed=i + 1, size=(args.width, args.height)), frames=5, fps=int(args.fps))
        cameras.append(path)

    with AppServer(workdir / f"data{n}", workdir / f"server{n}.log", env) as server:
        config = AppConfig.from_env(server.env)
        with open_store(config) as store, sync_api.sync_playwright() as p:
            code, key = store.create_room(f"Load test, {n} students")
            teacher_browser = launch_browser(p)
            teacher = teacher_browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
            open_dashboard(teacher, server.url, code, key)
            wait_for(lambda: metrics(teacher).get("Students joined") == "0", 60, "the teacher's dashboard")

            browsers = [launch_browser(p, camera) for camera in cameras]
            pages = [join_as(b, server.url, code, f"Student {i + 1}") for i, b in enumerate(browsers)]
            started = time.monotonic()
            console = {i: [] for i in range(n)}
            for i, page in enumerate(pages):
                page.on("console", lambda m, i=i: console[i].append(f"{time.monotonic():.2f} {m.type}: {m.text[:300]}"))
            for page in pages:
                start_camera(page)

            def all_present():
                recent = store.samples(code, start=time.time() - config.presence_timeout_s)
                return len({s.student_id for s in recent if s.probs is not None}) == n

            try:
                wait_for(all_present, args.join_timeout, f"all {n} students present", teacher, f"load-{n}", poll=0.25)
            except AssertionError:  # what each student saw and the server's threads, for whoever looks into it
                server.dump_threads()
                for i, page in enumerate(pages):
                    page.screenshot(path=str(ARTIFACTS / f"FAILED-load-{n}-student{i + 1}.png"), full_page=True)
                    (ARTIFACTS / f"FAILED-load-{n}-student{i + 1}-console.txt").write_text("\n".join(console[i]))
                raise
            all_present_s = time.monotonic() - started

            server_cpu0, chrome0, machine0 = tree_cpu(server.pid), chromium_cpu(), machine_busy()
            t0 = time.time()
            time.sleep(args.seconds)
            t1 = time.time()
            server_cpu1, chrome1, machine1 = tree_cpu(server.pid), chromium_cpu(), machine_busy()
            window = t1 - t0
            rss = rss_mb(server.pid)
            teacher.screenshot(path=str(workdir / f"dashboard{n}.png"))

            samples = store.samples(code, start=t0, end=t1)
            students = [s.id for s in store.students(code)]
            faces = [sum(1 for s in samples if s.student_id == sid and s.probs is not None) / window for sid in students]
            for b in (teacher_browser, *browsers):
                b.close()

    chrome_s = sum(chrome1.get(pid, 0.0) - chrome0.get(pid, 0.0) for pid in chrome1)
    return Row(
        students=n,
        all_present_s=all_present_s,
        face_rate_min=min(faces),
        face_rate_mean=sum(faces) / len(faces),
        face_share=(sum(s.probs is not None for s in samples) / len(samples)) if samples else 0.0,
        server_cpu=100 * (server_cpu1 - server_cpu0) / window,
        server_rss=rss,
        chromium_cpu=100 * chrome_s / window,
        machine_cpu=100 * (machine1[0] - machine0[0]) / window,
    )


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", default="1,2,4", help="class sizes to measure, comma separated (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=30, help="measurement window per class size (default 30)")
    parser.add_argument("--width", type=int, default=320, help="fake camera width (default 320)")
    parser.add_argument("--height", type=int, default=240, help="fake camera height (default 240)")
    parser.add_argument("--fps", type=float, default=5, help="fake camera and CLASSMOOD_CAMERA_FPS (default 5)")
    parser.add_argument("--analysis-fps", type=float, default=3, help="CLASSMOOD_ANALYSIS_FPS (default 3, the app's)")
    parser.add_argument("--presence-timeout", type=float, default=5, help="CLASSMOOD_PRESENCE_TIMEOUT_S (default 5)")
    parser.add_argument("--model", type=Path, default=None, help="CLASSMOOD_MODEL_PATH (default: the app's default)")
    parser.add_argument("--join-timeout", type=float, default=150, help="seconds allowed until all are present")
    args = parser.parse_args(argv)
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
    print(f"Command: `{shlex.join([sys.executable, *sys.argv])}`  ")
    print(f"Machine: {os.cpu_count()} cores ({cpu_model}), load average at start "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}  ")
    print(f"Camera {args.width}x{args.height} at {args.fps:g} fps per student, analysis {args.analysis_fps:g} fps, "
          f"one sample a second, a teacher dashboard open, each student in its own Chromium.\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="classmood-browser-load-") as tmp:
        try:
            for n in sizes:
                workdir = Path(tmp) / f"n{n}"
                workdir.mkdir()
                try:
                    rows.append(measure(n, args, fer_split, sync_api, workdir).markdown())
                except AssertionError as error:  # e.g. not everyone present in time: that is a result too
                    rows.append(f"| {n} | failed: {error} | | | | | | |")
                    kept = ARTIFACTS / f"FAILED-load-{n}-server.log"
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(workdir / f"server{n}.log", kept)  # the temporary folder goes away
                    print(f"server log kept: {kept}", file=sys.stderr)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
