"""Serving benchmark: classifier throughput, end-to-end ms per frame, and the `fer` peer.

    python -m fer bench [--model models/emotion_cnn.keras] [--repeats 20]

Frames are 640x480 photos with 1 or 10 real FER-2013 faces (:mod:`fer.bench.scenes`). The peer,
the ``fer`` package on PyPI, has the same import name as ours, so it runs in its own venv
(``.venv-peer``) in a subprocess started outside this repository, on the same frames, in the
same run, so the ratio compares like with like on this machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fer.vision.classify import DEFAULT_MODEL_PATH, EmotionClassifier, load_model, tflite_sibling
from fer.config import AppConfig
from fer.bench.scenes import compose, fer_faces, swaying

PEER_PYTHON = Path(__file__).resolve().parents[2] / ".venv-peer" / "bin" / "python"
PEER_SETUP = "python -m venv .venv-peer && .venv-peer/bin/pip install fer==25.10.3 'setuptools<80'"

# Runs inside the peer venv; prints {"1": [ms...], "10": [ms...], "faces": {...}} as JSON.
PEER_SCRIPT = r"""
import json, sys, time, glob, os
import cv2
from fer.fer import FER
frames_dir, repeats = sys.argv[1], int(sys.argv[2])
detector = FER()
out = {"faces": {}}
for group in ("1", "10"):
    frames = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(frames_dir, group + "_*.png")))]
    detector.detect_emotions(frames[0])
    times, found = [], []
    for i in range(repeats):
        frame = frames[i % len(frames)]
        start = time.perf_counter()
        faces = detector.detect_emotions(frame)
        times.append((time.perf_counter() - start) * 1000)
        found.append(len(faces))
    out[group] = times
    out["faces"][group] = sum(found) / len(found)
print("PEER_JSON " + json.dumps(out))
"""


def _frames(n_faces: int, count: int, seed: int):
    faces = fer_faces()
    if faces is None:
        sys.exit("FER-2013 not found: set FER2013_PATH or put fer2013.zip in ../shared/datasets")
    rng = np.random.default_rng(seed)
    px = (80, 120) if n_faces == 1 else (56, 84)
    return [compose(faces.images, faces.labels, n_faces, rng, face_px=px).frame for _ in range(count)]


def classifier_throughput(model: Path, batch: int = 64, seconds: float = 3.0, threads: int = 1) -> float:
    faces = fer_faces()
    crops = faces.images[:batch]
    classifier = EmotionClassifier(model, threads=threads)
    classifier.predict(crops)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        classifier.predict(crops)
        done += len(crops)
    return done / (time.perf_counter() - start)


def follower_ms_per_face(frames, repeats: int = 50) -> float:
    """Milliseconds a face for :class:`fer.vision.track.FaceFollower` to follow Haar's faces one sway step."""
    import cv2

    from fer.vision.detect import HaarDetector
    from fer.vision.track import FaceFollower

    total, faces = 0.0, 0
    for frame in frames:
        tracks = list(enumerate(d.box for d in HaarDetector().detect(frame)))
        follower = FaceFollower()
        follower.remember(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), tracks)
        moved = cv2.cvtColor(swaying(frame, 2)[1], cv2.COLOR_BGR2GRAY)
        start = time.perf_counter()
        for _ in range(repeats):
            follower.follow(moved, tracks)
        total += time.perf_counter() - start
        faces += len(tracks) * repeats
    return 1000 * total / max(1, faces)


def frame_times(analyzer, frames, repeats: int) -> tuple[list[float], float]:
    analyzer.analyze(frames[0])
    times, found = [], []
    for i in range(repeats):
        analyzer.reset()
        start = time.perf_counter()
        result = analyzer.analyze(frames[i % len(frames)])
        times.append((time.perf_counter() - start) * 1000)
        found.append(len(result.faces))
    return times, sum(found) / len(found)


def stream_times(analyzer, frames, repeats: int) -> tuple[list[float], float]:
    """Consecutive frames of one stream, as the app sees them (tracks carry over).

    The scene sways a few pixels a frame, as a student does, so boxes carried over between
    full searches must follow their faces to stay useful.
    """
    moving = swaying(frames[0], repeats + 1)
    analyzer.reset()
    analyzer.analyze(moving[0], timestamp=0.0)
    times, found = [], []
    for i in range(repeats):
        start = time.perf_counter()
        result = analyzer.analyze(moving[i + 1], timestamp=(i + 1) * 0.1)
        times.append((time.perf_counter() - start) * 1000)
        found.append(len(result.faces))
    return times, sum(found) / len(found)


def run_peer(frame_sets: dict[str, list[np.ndarray]], repeats: int) -> dict | None:
    import cv2

    if not PEER_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="fer-peer-") as tmp:
        for group, frames in frame_sets.items():
            for i, frame in enumerate(frames):
                cv2.imwrite(os.path.join(tmp, f"{group}_{i:02d}.png"), frame)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        proc = subprocess.run(
            [str(PEER_PYTHON), "-c", PEER_SCRIPT, tmp, str(repeats)],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=1800,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("PEER_JSON "):
            return json.loads(line[len("PEER_JSON "):])
    print(f"peer run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=AppConfig().model_path,
                        help="model the pipeline rows use (default: the app's, the LiteRT export)")
    parser.add_argument("--repeats", type=int, default=20, help="timed frames per case (default 20)")
    parser.add_argument("--detectors", default="mtcnn,haar", help="our detectors to time (default mtcnn,haar)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="classifier threads of the pipeline rows (default: all %(default)s cores, as the CLI "
                             "uses for one stream; the live app runs 1 per analysis, one analysis per core)")
    parser.add_argument("--detect-every", type=int, default=AppConfig().detect_every,
                        help="detector interval of the stream rows (default: the app's, CLASSMOOD_DETECT_EVERY)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fer.errors import FerError
    from fer.vision.pipeline import FrameAnalyzer

    try:
        EmotionClassifier(args.model).load()
    except FerError as exc:
        sys.exit(f"fer.bench.classifier: {exc}")
    frame_sets = {"1": _frames(1, 5, seed=1), "10": _frames(10, 5, seed=2)}
    print(f"model: {args.model}; {os.cpu_count()} CPU cores; 640x480 frames of real faces; "
          f"classifier on {args.threads} thread(s) in the pipeline rows; median of {args.repeats} frames "
          f"(stream rows: mean over {args.repeats} consecutive frames)\n")
    for path in dict.fromkeys([DEFAULT_MODEL_PATH, tflite_sibling(DEFAULT_MODEL_PATH), args.model]):
        if not path.exists():
            continue
        backend = load_model(path).backend
        for threads in dict.fromkeys([1, os.cpu_count() or 1]) if backend == "litert" else [1]:
            print(f"classifier {path.name} ({backend}{f', {threads} threads' if backend == 'litert' else ''}): "
                  f"{classifier_throughput(path, threads=threads):.0f} faces/s in batches of 64, "
                  f"{classifier_throughput(path, batch=1, threads=threads):.0f} faces/s one face per call")
    print(f"face follower (template matching, between full searches): "
          f"{follower_ms_per_face(frame_sets['10']):.3f} ms a face\n")
    ours = {}
    for name in args.detectors.split(","):
        analyzer = FrameAnalyzer(model_path=args.model, detector=name, classifier_threads=args.threads)
        ours[name] = {g: frame_times(analyzer, frames, args.repeats) for g, frames in frame_sets.items()}
    # Streams: what the live app does per student (detect every n-th frame, track between).
    for name in args.detectors.split(","):
        streaming = FrameAnalyzer(model_path=args.model, detector=name, detect_every=args.detect_every,
                                  classifier_threads=args.threads)
        ours[f"{name}, detect every {args.detect_every}th frame, stream mean"] = {
            g: stream_times(streaming, frames, args.repeats) for g, frames in frame_sets.items()
        }
    peer = run_peer(frame_sets, args.repeats)
    print("| pipeline | 1 face: ms/frame | faces found | 10 faces: ms/frame | faces found |")
    mid = {True: statistics.mean, False: statistics.median}
    print("|---|---:|---:|---:|---:|")
    for name, r in ours.items():
        avg = mid["stream" in name]
        print(f"| ClassMood ({name}) | {avg(r['1'][0]):.1f} | {r['1'][1]:.1f} "
              f"| {avg(r['10'][0]):.1f} | {r['10'][1]:.1f} |")
    if peer is None:
        print(f"\npeer comparison skipped: {PEER_PYTHON} not found; create it with\n    {PEER_SETUP}")
        return 0
    print(f"| fer 25.10.3 (peer, Haar + its CNN) | {statistics.median(peer['1']):.1f} | {peer['faces']['1']:.1f} "
          f"| {statistics.median(peer['10']):.1f} | {peer['faces']['10']:.1f} |")
    print()
    for name, r in ours.items():
        avg = mid["stream" in name]
        ratios = [statistics.median(peer[g]) / avg(r[g][0]) for g in ("1", "10")]
        print(f"speed-up of ClassMood ({name}) over the peer: {ratios[0]:.1f}x (1 face), {ratios[1]:.1f}x (10 faces)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
