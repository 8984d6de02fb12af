"""Detector benchmark: recall, false positives and speed on real faces with golden boxes.

    python -m fer bench-detect [--scenes 40] [--seed 0]

Frames are 640x480 scikit-image photos with 1-10 FER-2013 faces placed at known positions
(:mod:`fer.bench.scenes`), plus the astronaut photo's natural face. A detection counts as a hit
when it overlaps an unclaimed golden box with IoU >= 0.3 (detectors frame faces differently
from FER-2013's crops, so a strict threshold would measure box style, not finding faces).
Prints a markdown table; the fastest detector whose recall is within 5 points of the best
is the one to make :data:`fer.vision.detect.DEFAULT_DETECTOR`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from fer.vision.detect import HaarDetector, MtcnnDetector
from fer.bench.scenes import BACKGROUNDS, compose, fer_faces
from fer.vision.track import match

CONFIGS = {
    "haar @320": lambda: HaarDetector(max_side=320, min_face=20, min_neighbors=5),
    "haar @480": lambda: HaarDetector(max_side=480, min_face=24, min_neighbors=5),
    "haar @640": lambda: HaarDetector(max_side=640, min_face=24, min_neighbors=5),
    "haar @320, 3 neighbours (default)": lambda: HaarDetector(max_side=320, min_face=20, min_neighbors=3),
    "mtcnn @320": lambda: MtcnnDetector(max_side=320),
    "mtcnn @480": lambda: MtcnnDetector(max_side=480),
    "mtcnn @640": lambda: MtcnnDetector(max_side=640),
}
MATCH_IOU = 0.3


def make_scenes(n: int, seed: int):
    faces = fer_faces()
    if faces is None:
        sys.exit("FER-2013 not found: set FER2013_PATH or put fer2013.zip in ../shared/datasets")
    rng = np.random.default_rng(seed)
    return [
        compose(faces.images, faces.labels, int(rng.integers(1, 11)), rng, background=BACKGROUNDS[i % len(BACKGROUNDS)])
        for i in range(n)
    ]


def evaluate(detector, scenes) -> dict:
    detector.detect(scenes[0].frame)  # load and warm up outside the timing
    hits = gold = false_pos = 0
    times = []
    for scene in scenes:
        start = time.perf_counter()
        found = detector.detect(scene.frame)
        times.append((time.perf_counter() - start) * 1000)
        pairs = match(scene.boxes, [d.box for d in found], MATCH_IOU)
        hits += len(pairs)
        gold += len(scene.boxes)
        false_pos += len(found) - len(pairs)
    return {
        "recall": hits / max(1, gold),
        "fp_per_frame": false_pos / len(scenes),
        "ms_median": statistics.median(times),
        "ms_p90": float(np.percentile(times, 90)),
        "faces": gold,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=40, help="number of 640x480 frames (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scenes = make_scenes(args.scenes, args.seed)
    rows = {name: evaluate(factory(), scenes) for name, factory in CONFIGS.items()}
    total = next(iter(rows.values()))["faces"]
    print(f"Detectors on {len(scenes)} frames of 640x480 with {total} real faces "
          f"(FER-2013 faces on scikit-image photos + 1 natural face), {os.cpu_count()} CPU cores\n")
    print("| detector @ search size | recall | false positives / frame | ms / frame (median) | ms / frame (p90) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['recall']:.1%} | {r['fp_per_frame']:.2f} | {r['ms_median']:.1f} | {r['ms_p90']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
