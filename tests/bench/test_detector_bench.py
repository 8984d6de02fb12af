import numpy as np

from fer.bench.detect import evaluate_all
from fer.bench.scenes import hard_scene
from fer.vision.detect import YuNetDetector
from fer.vision.track import match


def test_detectors_timed_in_turn_are_scored_as_each_alone(fer_split):
    rng = np.random.default_rng(4)
    scenes = [hard_scene(fer_split.images, fer_split.labels, 8, rng, background=bg) for bg in ("coffee", "rocket")]
    results = evaluate_all({"plain": YuNetDetector(recheck_from=0), "second look": YuNetDetector(),
                            "again": YuNetDetector(recheck_from=0)}, scenes)
    gold = sum(len(s.boxes) for s in scenes)
    detector = YuNetDetector(recheck_from=0)
    hits = sum(len(match(s.boxes, [f.box for f in detector.detect(s.frame)], 0.3)) for s in scenes)
    found = sum(len(detector.detect(s.frame)) for s in scenes)
    assert results["plain"]["recall"] == results["again"]["recall"] == hits / gold
    assert results["plain"]["fp_per_frame"] == (found - hits) / len(scenes)
    assert results["second look"]["recall"] >= results["plain"]["recall"]
    assert all(len(r) == 7 and r["ms_median"] > 0 and r["faces"] == gold for r in results.values())
