"""Serving benchmark: classifier throughput, end-to-end ms per frame, and the `fer` peer.

    python -m fer bench [--repeats 20] [--frames 10] [--detectors yunet,yunet@320,media,mtcnn]

Frames are the hard 640x480 scenes of :func:`fer.bench.scenes.hard_scene` (textured photos,
uneven light, noise, JPEG) in three sets (:data:`SETS`): 1 face (80-120 px); 10 faces of 40-200
px (as many as fit); and 10 faces of 112 px, the frames of the issue that chose YuNet. Every row
reports the mean faces found per frame, recall against the golden boxes and the label accuracy
on the faces found. The peer, the ``fer`` package on PyPI, has the same import name as ours, so
it runs in its own venv (``.venv-peer``) in a subprocess started outside this repository, on the
same frames, in the same run, so the ratio compares like with like on this machine's load.
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

from fer.bench.scenes import fer_faces, hard_scene, swaying
from fer.config import AppConfig
from fer.emotions import EMOTIONS
from fer.vision.classify import DEFAULT_MODEL_PATH, EmotionClassifier, load_model, tflite_sibling
from fer.vision.track import match

PEER_PYTHON = Path(__file__).resolve().parents[2] / ".venv-peer" / "bin" / "python"
PEER_SETUP = "python -m venv .venv-peer && .venv-peer/bin/pip install fer==25.10.3 'setuptools<80'"

# Runs inside the peer venv; prints {"1": [ms...], "10": [ms...], ..., "found": {"1": [[[x1,y1,x2,y2,label]...]...]}}.
PEER_SCRIPT = r"""
import json, sys, time, glob, os
import cv2
from fer.fer import FER
frames_dir, repeats, groups = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
detector = FER()
out = {"found": {}}
for group in groups:
    frames = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(frames_dir, group + "_*.png")))]
    detector.detect_emotions(frames[0])
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        detector.detect_emotions(frames[i % len(frames)])
        times.append((time.perf_counter() - start) * 1000)
    out[group] = times
    found = []
    for frame in frames:
        faces = detector.detect_emotions(frame)
        found.append([[int(f["box"][0]), int(f["box"][1]), int(f["box"][0] + f["box"][2]), int(f["box"][1] + f["box"][3]),
                       max(f["emotions"], key=f["emotions"].get)] for f in faces])
    out["found"][group] = found
print("PEER_JSON " + json.dumps(out))
"""
MATCH_IOU = 0.3
#: The frame sets: name -> (faces a frame, face sizes in px, seed, what it is).
SETS = {
    "1": (1, (80, 120), 1, "1 face of 80-120 px"),
    "10": (10, (40, 200), 2, "10 faces of 40-200 px"),
    "10x112": (10, (112, 112), 3, "10 faces of 112 px (the issue's frames)"),
}
BACKGROUNDS = ("coffee", "rocket", "chelsea")


def _scenes(group: str, count: int):
    faces = fer_faces()
    if faces is None:
        sys.exit("FER-2013 not found: set FER2013_PATH or put fer2013.zip in ../shared/datasets")
    n_faces, px, seed, _ = SETS[group]
    rng = np.random.default_rng(seed)
    return [hard_scene(faces.images, faces.labels, n_faces, rng, face_px=px, background=BACKGROUNDS[i % len(BACKGROUNDS)])
            for i in range(count)]


def scoring(scenes, found: list[list[tuple[tuple[int, int, int, int], str]]]) -> dict:
    """Faces found per frame, recall and label accuracy on found faces (golden faces only)."""
    hits = gold = correct = placed = 0
    for scene, faces in zip(scenes, found):
        pairs = match(scene.boxes, [box for box, _ in faces], MATCH_IOU)
        gold += len(scene.boxes)
        hits += len(pairs)
        for gi, fi in pairs:
            if scene.labels[gi] >= 0:
                placed += 1
                correct += faces[fi][1] == EMOTIONS[scene.labels[gi]]
    return {"faces": sum(len(f) for f in found) / len(found), "recall": hits / max(1, gold),
            "accuracy": correct / max(1, placed), "gold": gold / len(scenes)}


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
    """Milliseconds a face for :class:`fer.vision.track.FaceFollower` to follow YuNet's faces one sway step."""
    import cv2

    from fer.vision.detect import YuNetDetector
    from fer.vision.track import FaceFollower

    total, faces = 0.0, 0
    for frame in frames:
        tracks = list(enumerate(d.box for d in YuNetDetector().detect(frame)))
        follower = FaceFollower()
        follower.remember(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), tracks)
        moved = cv2.cvtColor(swaying(frame, 2)[1], cv2.COLOR_BGR2GRAY)
        start = time.perf_counter()
        for _ in range(repeats):
            follower.follow(moved, tracks)
        total += time.perf_counter() - start
        faces += len(tracks) * repeats
    return 1000 * total / max(1, faces)


def frame_times(analyzer, scenes, repeats: int) -> tuple[list[float], dict]:
    """Full searches (tracks reset before each frame): ms per frame, and the scoring."""
    analyzer.analyze(scenes[0].frame)
    times = []
    for i in range(repeats):
        analyzer.reset()
        start = time.perf_counter()
        analyzer.analyze(scenes[i % len(scenes)].frame)
        times.append((time.perf_counter() - start) * 1000)
    found = []
    for scene in scenes:
        analyzer.reset()
        found.append([(f.box, f.label) for f in analyzer.analyze(scene.frame).faces])
    return times, scoring(scenes, found)


def stream_times(analyzer, scenes, repeats: int) -> tuple[list[float], dict]:
    """Consecutive frames of one stream, as the app sees them (tracks carry over).

    The scene sways a few pixels a frame, as a student does, so boxes carried over between
    full searches must follow their faces to stay useful.
    """
    moving = swaying(scenes[0].frame, repeats + 1)
    analyzer.reset()
    analyzer.analyze(moving[0], timestamp=0.0)
    times, found = [], []
    for i in range(repeats):
        start = time.perf_counter()
        result = analyzer.analyze(moving[i + 1], timestamp=(i + 1) * 0.1)
        times.append((time.perf_counter() - start) * 1000)
        found.append(len(result.faces))
    return times, {"faces": sum(found) / len(found)}


def run_peer(scene_sets: dict[str, list], repeats: int) -> dict | None:
    import cv2

    if not PEER_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="fer-peer-") as tmp:
        for group, scenes in scene_sets.items():
            for i, scene in enumerate(scenes):
                cv2.imwrite(os.path.join(tmp, f"{group}_{i:02d}.png"), scene.frame)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        proc = subprocess.run(
            [str(PEER_PYTHON), "-c", PEER_SCRIPT, tmp, str(repeats), ",".join(scene_sets)],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=1800,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("PEER_JSON "):
            peer = json.loads(line[len("PEER_JSON "):])
            peer["scores"] = {
                g: scoring(scene_sets[g], [[(tuple(f[:4]), f[4]) for f in faces] for faces in peer["found"][g]])
                for g in scene_sets
            }
            return peer
    print(f"peer run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    return None


def both_peer_runs(before: dict | None, after: dict | None) -> dict | None:
    """One peer result from its runs before and after ours: the frame times of both, and the
    median of each run (its scores are the same in both: the peer is deterministic)."""
    if before is None or after is None:
        return before or after
    both = dict(before)
    for group in before["scores"]:
        both[group] = before[group] + after[group]
    both["before"] = {g: statistics.median(before[g]) for g in before["scores"]}
    both["after"] = {g: statistics.median(after[g]) for g in after["scores"]}
    return both


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=AppConfig().model_path,
                        help="model the pipeline rows use (default: the app's, the LiteRT export)")
    parser.add_argument("--repeats", type=int, default=20, help="timed frames per case (default 20)")
    parser.add_argument("--frames", type=int, default=10,
                        help="frames of each set, all scored for recall and accuracy, timed in turn (default 10)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"frame sets (default: all of {', '.join(SETS)})")
    parser.add_argument("--detectors", default="yunet,yunet@320,media,haar,mtcnn",
                        help="our pipelines: name[@search size], or 'media' for the \"Analyze media\" page's search "
                             "(default yunet,yunet@320,media,haar,mtcnn)")
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
    unknown = [g for g in args.sets.split(",") if g not in SETS]
    if unknown:
        sys.exit(f"fer.bench.classifier: unknown frame set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    scene_sets = {g: _scenes(g, args.frames) for g in args.sets.split(",")}
    print(f"model: {args.model}; {os.cpu_count()} CPU cores; hard 640x480 frames of real faces, {args.frames} a set: "
          + "; ".join(f"{SETS[g][3]} ({sum(len(s.boxes) for s in scenes)} golden faces)" for g, scenes in scene_sets.items())
          + f"; classifier on {args.threads} thread(s) in the pipeline rows; median of {args.repeats} frames "
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
          f"{follower_ms_per_face([s.frame for s in next(iter(scene_sets.values()))]):.3f} ms a face\n")

    def analyzer(spec: str, **extra) -> FrameAnalyzer:
        if spec == "media":
            from dataclasses import replace

            options = replace(AppConfig().media_analyzer_options(), model_path=args.model,
                              classifier_threads=args.threads)
            return FrameAnalyzer(options, **extra)
        name, _, side = spec.partition("@")
        return FrameAnalyzer(model_path=args.model, detector=name, detect_max_side=int(side) if side else None,
                             classifier_threads=args.threads, **extra)

    # The peer runs before our rows and again after them: on a shared machine the load drifts
    # over the minutes a run takes, and one peer run at one end would meet another load than ours.
    peer_before = run_peer(scene_sets, args.repeats)
    ours = {}
    for spec in args.detectors.split(","):
        try:
            built = analyzer(spec).load()
        except FerError as exc:
            print(f"skipped {spec}: {exc}", file=sys.stderr)
            continue
        ours[spec] = {g: frame_times(built, scenes, args.repeats) for g, scenes in scene_sets.items()}
    # A stream: what the live app does per student (detect every n-th frame, follow between).
    stream_name = f"yunet, detect every {args.detect_every}th frame, stream mean"
    streaming = analyzer("yunet", detect_every=args.detect_every)
    ours[stream_name] = {g: stream_times(streaming, scenes, args.repeats) for g, scenes in scene_sets.items()}
    peer = both_peer_runs(peer_before, run_peer(scene_sets, args.repeats) if peer_before else None)
    if peer is None:
        print(f"peer comparison skipped: {PEER_PYTHON} not found or failed; create it with\n    {PEER_SETUP}\n")
    print(print_table(ours, peer, scene_sets))
    if peer is not None and "before" in peer:
        print("\npeer before / after our rows, ms a frame (median): "
              + "; ".join(f"{peer['before'][g]:.1f} / {peer['after'][g]:.1f} ({SETS[g][3]})" for g in scene_sets)
              + "; the ratios use both runs' frames")
    return 0


def print_table(ours: dict, peer: dict | None, scene_sets: dict) -> str:
    """One row per frame set and pipeline: ms a frame, speed-up over the peer, faces found, recall, accuracy."""
    lines = ["| frames | pipeline | ms/frame | speed-up over the peer | faces found | recall | accuracy on found |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for group in scene_sets:
        peer_ms = statistics.median(peer[group]) if peer else None
        rows = [(f"ClassMood ({name})", (statistics.mean if "stream" in name else statistics.median)(r[group][0]),
                 r[group][1]) for name, r in ours.items()]
        if peer:
            rows.append(("fer 25.10.3 (peer, Haar + its CNN)", peer_ms, peer["scores"][group]))
        for name, ms, score in rows:
            ratio = f"{peer_ms / ms:.1f}x" if peer_ms else "–"
            quality = (f"{score['recall']:.0%} | {score['accuracy']:.2f}" if "recall" in score else "– | –")
            lines.append(f"| {SETS[group][3]} | {name} | {ms:.1f} | {ratio} | {score['faces']:.1f} | {quality} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
