"""Load test of the live path: N concurrent students on one process, as the web app runs them.

    python -m fer loadtest --students 1,5,10,20,30 --seconds 20
    python -m fer loadtest --students 30 --seconds 600 --soak      # the 10-minute soak
    python -m fer loadtest --students 10 --seconds 60 --upload     # while a 60 s video is analyzed

Why: the web app serves every student's camera from one process, each through its own
:class:`fer.classroom.live.StudentStream` (newest frame only, analysis at ``analysis_fps`` on a
worker thread, one sample a ``sample_interval_s`` to the store). Whether a server keeps up
with a class depends on how those workers share the CPU, the GIL and the SQLite writer, which
no single-frame benchmark (:mod:`fer.bench.classifier`) shows. This drives exactly that code with
N simulated students and prints, per N, a markdown row: analysis latency, analyzed frames
per second per student, the share of input frames not analyzed, samples stored per student
per second (read back from the store), process CPU and resident memory.

Each student is a feeder thread calling ``stream.process(frame)`` at 15 fps, as the webrtc
callback would (without the video decode/encode, which the browser connection adds), with
640x480 frames of one real FER-2013 face on a photo (:mod:`fer.bench.scenes`), swaying a few
pixels a frame. Analyzer, detector, model and rates come from :class:`fer.config.AppConfig`
defaults; the store is a fresh SQLite file in a temporary data directory, deleted after
each N. Nothing else is written to disk. With ``--upload`` a visitor's video (a file, or a
generated 60 s 1280x720 30 fps clip of the same scene, held in memory) is analyzed during the
run by the "Analyze media" page's own code (:func:`fer.vision.media.analyze_upload`, the same
limits, the same fair queue as the students), and the students' analyzed rate while it runs is
printed beside the upload's own figures. Latency is the time of the ``analyze`` call
(StudentStream has no hook, so the callable passed in is wrapped); the worker calls it right
after taking the frame, so this is the time from a frame being taken to its result.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from fer.classroom.governor import AnalysisGate
from fer.classroom.live import StudentStream
from fer.classroom.store.factory import open_store
from fer.config import AppConfig
from fer.vision.pipeline import FrameAnalyzer
from fer.vision.records import FrameResult

INPUT_FPS = 15.0


@dataclass(frozen=True)
class UploadRow:
    """An upload analyzed during a run, and what the students got meanwhile."""

    seconds: float  # wall time of the upload's analysis
    frames_decoded: int
    frames_analyzed: int
    stopped: str | None  # the limit that ended it early, if any
    student_fps_mean: float  # analyzed fps per student while the upload ran
    student_fps_min: float
    error: str | None = None

    def markdown(self, students: int) -> str:
        return (f"| {students} | {self.seconds:.1f} | {self.frames_decoded} | {self.frames_analyzed} | "
                f"{self.stopped or 'none'} | {self.student_fps_mean:.2f} | {self.student_fps_min:.2f} |")


UPLOAD_HEADER = (
    "| students | upload analysis s | frames decoded | frames analyzed | stopped by | "
    "student analyzed fps during it (mean) | (min) |\n|---:|---:|---:|---:|---:|---:|---:|"
)


@dataclass(frozen=True)
class LoadRow:
    """The figures of one run with ``students`` concurrent streams."""

    students: int
    seconds: float
    latency_p50_ms: float
    latency_p95_ms: float
    analyzed_fps_mean: float
    analyzed_fps_min: float
    frames_in: int
    frames_analyzed: int
    dropped_share: float  # input frames not analyzed / input frames
    samples_per_student_s: float  # mean over students, read back from the store
    samples_min: int  # fewest samples stored for one student
    cpu_percent: float  # process CPU time / wall time (100 = one core)
    rss_mb: float
    errors: int
    slot_wait_ms: float = 0.0  # mean wait for a CPU slot (fer.classroom.governor) before an analysis
    rss_series: tuple[tuple[float, float], ...] = ()  # (seconds into the run, RSS MB) every few seconds
    images_written: tuple[str, ...] = ()  # image/video files that appeared during the run (must stay empty)
    upload: UploadRow | None = None

    def markdown(self) -> str:
        return (
            f"| {self.students} | {self.latency_p50_ms:.1f} | {self.latency_p95_ms:.1f} | {self.slot_wait_ms:.1f} | "
            f"{self.analyzed_fps_mean:.2f} | {self.analyzed_fps_min:.2f} | {self.dropped_share:.1%} | "
            f"{self.samples_per_student_s:.2f} | {self.cpu_percent:.0f} | {self.rss_mb:.0f} | {self.errors} |"
        )

    def memory_growth(self, warmup_s: float) -> float | None:
        """Relative RSS growth from the first reading after ``warmup_s`` to the last one."""
        after = [mb for t, mb in self.rss_series if t >= warmup_s]
        if len(after) < 2:
            return None
        return after[-1] / after[0] - 1.0


HEADER = (
    "| students | analyze p50 ms | analyze p95 ms | slot wait ms | analyzed fps/student (mean) | (min) | "
    "input frames dropped | samples/student/s | CPU % | RSS MB | errors |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)

#: Suffixes of files that would mean a frame or a face left memory.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".npy", ".mp4", ".webm", ".y4m"}


def projected_capacity(cpu_percent: float, students: int, cores: int, webrtc_percent: float = 0.0) -> int:
    """How many students a server of ``cores`` cores holds at this run's CPU per student.

    The simulation leaves out what a real browser connection costs the server (receiving and
    decoding its video, the event loop's per-packet work, the page's own refreshes), which
    ``scripts/browser_load.py`` measures with real Chromium students: ``webrtc_percent`` (% of a
    core per student) adds it, so the projection is for real students, not simulated ones."""
    per_student = cpu_percent / students + webrtc_percent
    return int(cores * 100 // per_student) if per_student > 0 else 0


def image_files(roots: Sequence[str | os.PathLike], since: float) -> list[str]:
    """Image or video files under ``roots`` modified after ``since`` (Unix seconds)."""
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".venv") and d != ".git"]
            for name in files:
                if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                    path = os.path.join(folder, name)
                    try:
                        if os.path.getmtime(path) >= since:
                            found.append(path)
                    except OSError:
                        pass
    return found


def rss_mb() -> float:
    """Resident memory of this process (VmRSS of /proc/self/status), in MB; NaN elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's word for it."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def _load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "n/a"


def _cpu_seconds() -> float:
    try:
        import psutil  # type: ignore[import-not-found]

        times = psutil.Process().cpu_times()
        return times.user + times.system
    except ImportError:
        times = os.times()
        return times.user + times.system


def make_frames(count: int = 16, seed: int = 0) -> list[np.ndarray]:
    """A loop of ``count`` 640x480 frames of one real FER-2013 face on a photo.

    The scene sways by up to 16x24 pixels and back over the loop, as a student in front of a
    webcam does, so the tracker has to follow the face between full searches rather than
    find it at the same place (or, with unrelated frames, teleporting) every time.
    """
    from fer.bench.scenes import compose, fer_faces, swaying

    faces = fer_faces()
    if faces is None:
        raise RuntimeError("FER-2013 not found: set FER2013_PATH or put fer2013.zip in ../shared/datasets")
    rng = np.random.default_rng(seed)
    scene = compose(faces.images, faces.labels, 1, rng, size=(640, 480), face_px=(80, 120)).frame
    return swaying(scene, count, period=count)


def make_upload_video(frames: Sequence[np.ndarray], seconds: float = 60.0, fps: int = 30,
                      size: tuple[int, int] = (1280, 720)) -> bytes:
    """An MP4 (H.264) of ``seconds`` at ``fps`` of the load test's scene, scaled to ``size``, in memory."""
    import io

    import av
    import cv2

    scaled = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(scaled[i % len(scaled)], format="bgr24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def _timed(analyze: Callable[[np.ndarray, float], FrameResult], out: list[float]):
    def wrapper(frame: np.ndarray, timestamp: float) -> FrameResult:
        start = time.perf_counter()
        try:
            return analyze(frame, timestamp)
        finally:
            out.append(time.perf_counter() - start)  # list.append is atomic under the GIL

    return wrapper


def run_load(
    students: int,
    seconds: float,
    frames: Sequence[np.ndarray] | None = None,
    config: AppConfig | None = None,
    input_fps: float = INPUT_FPS,
    progress: Callable[[float, float], None] | None = None,
    watch_dirs: Sequence[str | os.PathLike] = (),
    upload: tuple[str, bytes] | None = None,
) -> LoadRow:
    """Drive ``students`` concurrent StudentStreams for ``seconds``; returns their figures.

    ``upload`` (name, bytes) is analyzed as the "Analyze media" page does, starting with the
    students; the run lasts until it is done if that is longer than ``seconds``.
    """
    frames = list(frames) if frames is not None else make_frames()
    base = config or AppConfig()
    with tempfile.TemporaryDirectory(prefix="classmood-load-") as data_dir:
        cfg = dataclasses.replace(base, data_dir=data_dir, redis_url=None)
        # Load the model once up front, as the app's warm_model does, so start-up is not timed.
        FrameAnalyzer(model_path=cfg.model_path, detector=cfg.detector).load()
        store = open_store(cfg)
        streams: list[StudentStream] = []
        code = ""
        wall_start = wall_end = time.time()
        try:
            code, _key = store.create_room("load test")
            gate = AnalysisGate(cfg.analysis_slots or None)  # as the app's process-wide gate
            latencies: list[list[float]] = []
            for i in range(students):
                student = store.join(code, f"student {i + 1}")
                times: list[float] = []
                latencies.append(times)
                analyzer = FrameAnalyzer(cfg.analyzer_options())
                streams.append(
                    StudentStream.from_config(
                        cfg, student.room, student.id, _timed(analyzer.analyze, times), store.record_sample, gate=gate
                    )
                )

            stop = threading.Event()
            period = 1.0 / input_fps

            def feed(index: int, stream: StudentStream) -> None:
                next_at = time.monotonic()
                n = index  # students start at different frames
                while not stop.is_set():
                    if not stream.running:
                        stream.start()
                    # A fresh array per frame, as the video decoder hands over.
                    stream.process(frames[n % len(frames)].copy())
                    n += 1
                    next_at += period
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        stop.wait(delay)
                    else:
                        next_at = time.monotonic()  # fell behind: do not burst to catch up

            feeders = [
                threading.Thread(target=feed, args=(i, s), name=f"feeder-{i}", daemon=True)
                for i, s in enumerate(streams)
            ]
            uploaded: list[UploadRow] = []
            uploader = threading.Thread(target=lambda: uploaded.append(_analyze_upload(upload, cfg, gate, streams)),
                                        name="upload", daemon=True) if upload else None
            wall_start, cpu_start = time.time(), _cpu_seconds()
            mono_start = time.monotonic()
            for thread in feeders:
                thread.start()
            if uploader is not None:
                uploader.start()
            rss_series = [(0.0, rss_mb())]
            while (elapsed_now := time.monotonic() - mono_start) < seconds or (uploader and uploader.is_alive()):
                time.sleep(max(0.05, min(5.0, seconds - elapsed_now)))
                rss_series.append((time.monotonic() - mono_start, rss_mb()))
                if progress is not None:
                    progress(rss_series[-1][0], rss_series[-1][1])
            stop.set()
            for thread in feeders:
                thread.join(timeout=5)
            elapsed = time.monotonic() - mono_start
            cpu = _cpu_seconds() - cpu_start
            wall_end = time.time()
            memory = rss_mb()
            statuses = [s.status() for s in streams]
            gate_stats = gate.stats()
            written = image_files([data_dir, *watch_dirs], since=wall_start - 1)
        finally:
            for stream in streams:
                stream.stop(mark_absent=True)
            stored: list[int] = []
            try:
                if code:
                    for stream in streams:
                        # Only samples of the run itself, not the "camera off" one stop() sends.
                        samples = store.samples(code, start=wall_start, end=wall_end, student_id=stream.student_id)
                        stored.append(len(samples))
            finally:
                store.close()

    all_latencies = np.array([t for times in latencies for t in times]) * 1000
    analyzed = [st.frames_analyzed for st in statuses]
    frames_in = sum(st.frames_in for st in statuses)
    fps = [a / elapsed for a in analyzed]
    return LoadRow(
        students=students,
        seconds=elapsed,
        latency_p50_ms=float(np.percentile(all_latencies, 50)) if all_latencies.size else float("nan"),
        latency_p95_ms=float(np.percentile(all_latencies, 95)) if all_latencies.size else float("nan"),
        analyzed_fps_mean=float(np.mean(fps)),
        analyzed_fps_min=float(np.min(fps)),
        frames_in=frames_in,
        frames_analyzed=sum(analyzed),
        dropped_share=1.0 - sum(analyzed) / frames_in if frames_in else float("nan"),
        samples_per_student_s=float(np.mean(stored)) / elapsed,
        samples_min=int(min(stored)),
        cpu_percent=100.0 * cpu / elapsed,
        rss_mb=memory,
        errors=sum(st.errors for st in statuses),
        slot_wait_ms=1000 * gate_stats.wait_seconds / max(gate_stats.turns, 1),
        rss_series=tuple(rss_series),
        images_written=tuple(written),
        upload=uploaded[0] if upload and uploaded else None,
    )


def _analyze_upload(upload: tuple[str, bytes], cfg: AppConfig, gate: AnalysisGate,
                    streams: Sequence[StudentStream]) -> UploadRow:
    """Analyze ``upload`` as the page does and count the students' analyses meanwhile."""
    from fer.errors import FerError
    from fer.vision.media import VideoAnalysis, analyze_upload

    name, data = upload
    analyzer = FrameAnalyzer(cfg.media_analyzer_options())
    before = [s.status().frames_analyzed for s in streams]
    start = time.monotonic()
    result, error = None, None
    try:
        result = analyze_upload(data, name, analyzer, cfg.upload_limits(), fps=cfg.media_fps, turn=gate.turn)
    except FerError as exc:
        error = str(exc)
    seconds = time.monotonic() - start
    fps = [(s.status().frames_analyzed - b) / seconds for s, b in zip(streams, before)]
    video = result if isinstance(result, VideoAnalysis) else None
    return UploadRow(
        seconds=seconds,
        frames_decoded=video.frames_decoded if video else int(result is not None),
        frames_analyzed=len(video.times) if video else int(result is not None),
        stopped=video.stopped if video else None,
        student_fps_mean=float(np.mean(fps)) if fps else float("nan"),
        student_fps_min=float(np.min(fps)) if fps else float("nan"),
        error=error,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", default="1,5,10,20,30", help="comma-separated numbers of concurrent students")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each run")
    parser.add_argument("--soak", action="store_true",
                        help="also print memory over time, its growth after --warmup and any image file written")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before memory growth is measured (--soak)")
    parser.add_argument("--webrtc-cost", type=float, default=0.0, metavar="PCT",
                        help="%% of a core a real browser student costs beyond this simulation, as measured with "
                             "scripts/browser_load.py on the same machine (the README's figure); added to the "
                             "projected capacity of a 2-core server (default 0: the simulation alone)")
    parser.add_argument("--upload", nargs="?", const="", default=None, metavar="FILE",
                        help="also analyze this image or video as the Analyze media page does, during each run "
                             "(without FILE: a generated 60 s 1280x720 30 fps MP4 of the same scene)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.students.split(",") if n.strip()]
    cfg = AppConfig.from_env()
    frames = make_frames()
    slots = cfg.analysis_slots or os.cpu_count()
    upload = None
    if args.upload is not None:
        if args.upload:
            with open(args.upload, "rb") as handle:
                upload = (os.path.basename(args.upload), handle.read())
        else:
            upload = ("lesson-60s-720p.mp4", make_upload_video(frames))
    print(f"# ClassMood load test: {' '.join(['python -m fer loadtest', *(sys.argv[1:] if argv is None else argv)])}")
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average at start {_load_average()}; input {INPUT_FPS:g} fps of 640x480 frames, 1 real FER-2013 face each; "
        f"analysis_fps {cfg.analysis_fps:g}, detect_every {cfg.detect_every}, analysis slots {slots}, "
        f"sample_interval_s {cfg.sample_interval_s:g}, detector {cfg.detector}, "
        f"model {cfg.model_path.name}; SQLite store; {args.seconds:g} s per run."
    )
    print(
        "Latency = time of the analyze() call (StudentStream has no hook; the callable passed in is wrapped), "
        "i.e. from the worker taking the newest frame to its result; slot wait = mean time a due analysis "
        "waited in the fair queue before taking its frame. CPU % = process CPU time / wall time "
        "(100 = one core). Dropped = input frames not analyzed.\n"
    )
    if upload:
        print(f"Upload: {upload[0]}, {len(upload[1]) / 1e6:.1f} MB, analyzed at media_fps {cfg.media_fps:g} "
              f"(max {cfg.max_video_s:g} s of video, {cfg.max_video_frames} frames, {cfg.max_analysis_s:g} s of "
              "analysis) in the students' fair queue.\n")
    print(HEADER, flush=True)
    projections: list[str] = []
    uploads: list[tuple[int, UploadRow]] = []
    for n in counts:
        def tick(at: float, mb: float) -> None:
            if args.soak and int(at) % 60 < 5:
                print(f"  {at:5.0f} s  RSS {mb:6.0f} MB", file=sys.stderr, flush=True)

        row = run_load(n, args.seconds, frames=frames, config=cfg, progress=tick, watch_dirs=[os.getcwd()], upload=upload)
        print(row.markdown(), flush=True)
        projections.append(
            f"| {n} | {row.cpu_percent / n:.1f} | {projected_capacity(row.cpu_percent, n, 2)} | "
            f"{row.cpu_percent / n + args.webrtc_cost:.1f} | {projected_capacity(row.cpu_percent, n, 2, args.webrtc_cost)} |"
        )
        if row.upload is not None:
            uploads.append((n, row.upload))
        if args.soak:
            growth = row.memory_growth(args.warmup)
            readings = [f"{t:.0f}s {mb:.0f}" for t, mb in row.rss_series[:: max(1, len(row.rss_series) // 10)]]
            print(f"\nRSS MB over time: {', '.join(readings)}, end {row.rss_series[-1][1]:.0f}")
            print("memory growth after warm-up "
                  f"({args.warmup:g} s): {'n/a' if growth is None else f'{growth:+.1%}'}")
            print(f"image or video files written during the run: {len(row.images_written)}"
                  + (f" ({', '.join(row.images_written[:5])})" if row.images_written else "") + "\n")
    print(f"\nload average at the end {_load_average()} (other processes' load makes the figures noisy)")
    print(f"\nProjected capacity of a 2-core server of this CPU: 200 / CPU % per student; with real browsers, "
          f"{args.webrtc_cost:g} % of a core per student added for the WebRTC connection (--webrtc-cost).\n")
    print("| students | CPU % per student (simulated) | 2-core capacity (simulated) | CPU % per student "
          "(+ WebRTC) | 2-core capacity (real students) |\n|---:|---:|---:|---:|---:|")
    print("\n".join(projections))
    if uploads:
        print("\n" + UPLOAD_HEADER)
        for n, up in uploads:
            print(up.markdown(n) + (f" error: {up.error}" if up.error else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
