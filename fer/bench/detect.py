"""Detector benchmark: recall, false positives and speed on real faces with golden boxes,
and (``--margins``) the crop framing that suits each detector's boxes.

    python -m fer bench-detect [--scenes 40] [--seed 0]
    python -m fer bench-detect --margins [--scenes 200]

Frames are the hard 640x480 scenes of :func:`fer.bench.scenes.hard_scene`: 1-10 FER-2013
PrivateTest faces of 40-200 pixels on textured scikit-image photos under uneven light, with
noise and JPEG compression (plus the astronaut photo's natural face). A detection counts as a
hit when it overlaps an unclaimed golden box with IoU >= 0.3 (detectors frame faces
differently from FER-2013's crops, so a strict threshold would measure box style, not finding
faces). Recall is also given for the small faces (40-60 pixels).

``--margins`` classifies every found face with the served model from crops of each framing
(:class:`fer.vision.crop.Framing`: the square's side from the box's longer side or its width,
enlarged by a margin), against the same faces cropped from their exact regions: the framing
whose accuracy comes closest is the one for :data:`fer.vision.crop.FRAMINGS`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from fer.bench.scenes import SMALL_FACE_PX, hard_scenes
from fer.vision.detect import HaarDetector, MtcnnDetector, YuNetDetector
from fer.vision.track import match

CONFIGS = {
    "yunet @320, second look": lambda: YuNetDetector(max_side=320),
    "yunet @320, no second look (the live app)": lambda: YuNetDetector(max_side=320, recheck_from=0),
    "yunet @480, second look": lambda: YuNetDetector(max_side=480),
    "yunet @480, no second look": lambda: YuNetDetector(max_side=480, recheck_from=0),
    "yunet @480, second look from 0.2": lambda: YuNetDetector(max_side=480, recheck_from=0.2),
    "yunet @640, second look (the default)": lambda: YuNetDetector(max_side=640),
    "yunet @640, no second look": lambda: YuNetDetector(max_side=640, recheck_from=0),
    "yunet @640, second look from 0.2": lambda: YuNetDetector(max_side=640, recheck_from=0.2),
    "yunet @640, score >= 0.4, no second look": lambda: YuNetDetector(max_side=640, min_confidence=0.4, recheck_from=0),
    "yunet @960 (frame upscaled 1.5x), no second look": lambda: YuNetDetector(max_side=960, upscale=True, recheck_from=0),
    "yunet @960 (frame upscaled 1.5x), second look from 0.2": lambda: YuNetDetector(max_side=960, upscale=True,
                                                                                     recheck_from=0.2),
    "yunet @1280 (frame upscaled 2x), second look": lambda: YuNetDetector(max_side=1280, upscale=True),
    "haar @320, 3 neighbours (default)": lambda: HaarDetector(max_side=320, min_face=20, min_neighbors=3),
    "haar @640": lambda: HaarDetector(max_side=640, min_face=24, min_neighbors=5),
    "mtcnn @320": lambda: MtcnnDetector(max_side=320),
    "mtcnn @640": lambda: MtcnnDetector(max_side=640),
}
#: The detectors whose framing ``--margins`` measures: each as the library builds it by name, and
#: the "Analyze media" page's enlarged YuNet search (``AppConfig.media_analyzer_options``).
FRAMED = {
    "yunet": YuNetDetector,
    "haar": HaarDetector,
    "mtcnn": MtcnnDetector,
    "yunet @960 enlarged, second look from 0.2 (uploads)": CONFIGS["yunet @960 (frame upscaled 1.5x), second look from 0.2"],
}
MARGINS = (-0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
MATCH_IOU = 0.3


def make_scenes(n: int, seed: int):
    scenes = hard_scenes(n, seed)
    if scenes is None:
        sys.exit("FER-2013 not found: set FER2013_PATH or put fer2013.zip in ../shared/datasets")
    return scenes


def _small(box) -> bool:
    return SMALL_FACE_PX[0] <= box[2] - box[0] <= SMALL_FACE_PX[1]


def evaluate_all(detectors: dict, scenes) -> dict[str, dict]:
    """Recall, false positives and time of each detector on ``scenes``, timed in turn on each frame.

    Why in turn: on a shared machine the load changes by the minute, and detectors timed one
    after the other would be compared under different loads; taking turns frame by frame puts
    every detector under the same load, so the ratios between rows hold even when the times move.
    """
    for detector in detectors.values():
        detector.detect(scenes[0].frame)  # load and warm up outside the timing
    tally = {name: {"hits": 0, "false_pos": 0, "small_hits": 0, "times": []} for name in detectors}
    for scene in scenes:
        for name, detector in detectors.items():
            start = time.perf_counter()
            found = detector.detect(scene.frame)
            tally[name]["times"].append((time.perf_counter() - start) * 1000)
            pairs = match(scene.boxes, [d.box for d in found], MATCH_IOU)
            tally[name]["hits"] += len(pairs)
            tally[name]["false_pos"] += len(found) - len(pairs)
            tally[name]["small_hits"] += sum(_small(scene.boxes[gi]) for gi, _ in pairs)
    gold = sum(len(s.boxes) for s in scenes)
    small = sum(_small(b) for s in scenes for b in s.boxes)
    return {
        name: {
            "recall": t["hits"] / max(1, gold),
            "small_recall": t["small_hits"] / max(1, small),
            "fp_per_frame": t["false_pos"] / len(scenes),
            "ms_median": statistics.median(t["times"]),
            "ms_p90": float(np.percentile(t["times"], 90)),
            "faces": gold,
            "small": small,
        }
        for name, t in tally.items()
    }


def margins(scenes, model_path, only: str | None = None) -> None:
    """Print, per detector, the accuracy of each framing on its found faces (see the docstring)."""
    import cv2

    from fer.vision.classify import EmotionClassifier
    from fer.vision.crop import SIDES, Framing, crop_faces

    classifier = EmotionClassifier(model_path, threads=os.cpu_count() or 1)
    grays = [cv2.cvtColor(s.frame, cv2.COLOR_BGR2GRAY) for s in scenes]
    placed = [(i, gi) for i, s in enumerate(scenes) for gi, label in enumerate(s.labels) if label >= 0]
    exact_all = np.concatenate([crop_faces(grays[i], [scenes[i].boxes[gi]], 0.0) for i, gi in placed])
    labels_all = np.array([scenes[i].labels[gi] for i, gi in placed])
    exact_acc = float((np.argmax(classifier.predict(exact_all), 1) == labels_all).mean())
    print(f"{len(scenes)} hard scenes, {len(placed)} placed FER-2013 faces; the served model on their exact "
          f"regions: {exact_acc:.3f}\n")
    print("| detector | faces found | exact regions (same faces) | best framing | its accuracy | "
          + " | ".join(f"{side} {m:+.1f}" for side in SIDES for m in MARGINS) + " |")
    print("|---|---:|---:|---|---:|" + "---:|" * (len(SIDES) * len(MARGINS)))
    for name, factory in FRAMED.items():
        if only and not any(part in name for part in only.split(",")):
            continue
        detector = factory()
        found = []  # (scene index, golden index, face record)
        for i, scene in enumerate(scenes):
            faces = detector.detect(scene.frame)
            for gi, di in match(scene.boxes, [f.box for f in faces], MATCH_IOU):
                if scene.labels[gi] >= 0:
                    found.append((i, gi, faces[di]))
        labels = np.array([scenes[i].labels[gi] for i, gi, _ in found])
        exact = np.concatenate([crop_faces(grays[i], [scenes[i].boxes[gi]], 0.0) for i, gi, _ in found])
        reference = float((np.argmax(classifier.predict(exact), 1) == labels).mean())
        accuracy = {}
        for side in SIDES:
            for m in MARGINS:
                framing = Framing(side, m)
                crops = np.concatenate([framing.crops(grays[i], [face]) for i, _, face in found])
                accuracy[(side, m)] = float((np.argmax(classifier.predict(crops), 1) == labels).mean())
        best = max(accuracy, key=accuracy.get)
        print(f"| {name} | {len(found)} | {reference:.3f} | {best[0]} {best[1]:+.1f} | {accuracy[best]:.3f} | "
              + " | ".join(f"{accuracy[k]:.3f}" for k in accuracy) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=None, help="number of 640x480 frames (default 40; 200 with --margins)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margins", action="store_true", help="measure the crop framing per detector instead")
    parser.add_argument("--only", default=None, help="comma-separated substrings: run only the matching configurations")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scenes = make_scenes(args.scenes or (200 if args.margins else 40), args.seed)
    if args.margins:
        from fer.vision.classify import SERVED_MODEL_PATH

        margins(scenes, SERVED_MODEL_PATH, args.only)
        return 0
    configs = {k: v for k, v in CONFIGS.items() if not args.only or any(p in k for p in args.only.split(","))}
    total = sum(len(s.boxes) for s in scenes)
    small = sum(_small(b) for s in scenes for b in s.boxes)
    print(f"Detectors on {len(scenes)} hard frames of 640x480 with {total} real faces ({small} of 40-60 px; "
          f"FER-2013 faces on textured photos, uneven light, noise, JPEG + 1 natural face), "
          f"{os.cpu_count()} CPU cores; the detectors take turns on each frame, so all are timed under the same load\n")
    print("| detector @ search size | recall | small faces (40-60 px) | false positives / frame | ms / frame (median) | ms / frame (p90) |")
    print("|---|---:|---:|---:|---:|---:|")
    results = evaluate_all({name: factory() for name, factory in configs.items()}, scenes)
    for name, r in results.items():
        print(f"| {name} | {r['recall']:.1%} | {r['small_recall']:.1%} | {r['fp_per_frame']:.2f} "
              f"| {r['ms_median']:.1f} | {r['ms_p90']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
