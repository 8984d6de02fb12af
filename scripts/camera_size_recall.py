"""Whether the live app still finds and reads faces when the browser sends a smaller camera frame.

The live app's detector searches a copy whose longest side is ``detect_max_side`` (320), and
the classifier reads 48x48 crops, so a 640x480 frame is shrunk before both. This takes the
detector benchmark's real scenes (fer.bench.scenes.hard_scenes: FER-2013 faces of 40-200
pixels on photos, 640x480) and webcam-like scenes (one face of 100-160 pixels at 640,
as a student at a laptop), shrinks each frame to every camera width given,
and runs the live app's own pipeline (AppConfig's live options) on it: detection recall
(IoU >= 0.3 against the golden boxes, scaled) and how often the expression read is the face's
FER-2013 label.

    .venv/bin/python scripts/camera_size_recall.py [--widths 640,480,320] [--scenes 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fer.bench.scenes import fer_faces, hard_scenes  # noqa: E402
from fer.config import AppConfig  # noqa: E402
from fer.emotions import EMOTIONS  # noqa: E402
from fer.vision.track import match  # noqa: E402


def webcam_scenes(n: int, face_px: tuple[int, int]):
    """Webcam-like 640x480 scenes with one real FER-2013 face of ``face_px`` pixels (a student
    at a laptop: about 150 pixels; the browser tests use 100-120), with its label."""
    from fer.bench.scenes import compose

    split, rng = fer_faces("PrivateTest"), np.random.default_rng(1)
    return [compose(split.images, split.labels, 1, rng, size=(640, 480), face_px=face_px) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="640,480,320")
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--face-min", type=int, default=100, help="webcam-like face size at 640, pixels")
    parser.add_argument("--face-max", type=int, default=160)
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    config = AppConfig.from_env({})
    from fer.vision.pipeline import FrameAnalyzer

    analyzer = FrameAnalyzer(config.analyzer_options()).load()
    hard = hard_scenes(args.scenes, 0)
    if hard is None:
        print("FER-2013 not found (set FER2013_PATH)", file=sys.stderr)
        return 2
    webcam = webcam_scenes(args.scenes, (args.face_min, args.face_max))

    def analyze(frame):
        analyzer.reset()  # every frame on its own: no tracking or following from the previous one
        return analyzer.analyze(frame).faces

    def label(faces):
        return max(faces, key=lambda f: float(f.probs.max())).label if faces else None

    print(f"| camera width | hard scenes: recall (faces) | small faces (40-60 px at 640) recall | "
          f"webcam-like scenes (one face of {args.face_min}-{args.face_max} px at 640): face found | expression right (FER-2013 label) |")
    print("|---:|---:|---:|---:|---:|")
    for width in widths:
        scale = width / 640
        hits = gold = small_hits = small = 0
        for scene in hard:
            frame = cv2.resize(scene.frame, (width, round(480 * scale)), interpolation=cv2.INTER_AREA)
            boxes = [tuple(v * scale for v in b) for b in scene.boxes]
            found = [f.box for f in analyze(frame)]
            pairs = match(boxes, found, 0.3)
            hits += len(pairs)
            gold += len(boxes)
            is_small = [40 <= b[2] - b[0] <= 60 for b in scene.boxes]
            small += sum(is_small)
            small_hits += sum(is_small[gi] for gi, _ in pairs)
        seen = right = 0
        for scene in webcam:
            faces = analyze(cv2.resize(scene.frame, (width, round(480 * scale)), interpolation=cv2.INTER_AREA))
            if faces:
                seen += 1
                right += label(faces) == EMOTIONS[scene.labels[0]]
        print(f"| {width}x{round(480 * scale)} | {hits / max(1, gold):.3f} ({gold}) | {small_hits / max(1, small):.3f} ({small}) | "
              f"{seen} of {len(webcam)} | {right} of {len(webcam)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
