import numpy as np

from fer.bench.scenes import HARD_FACE_PX, hard_scene


def test_hard_scenes_place_faces_of_the_documented_sizes_inside_the_frame(fer_split):
    rng = np.random.default_rng(3)
    sizes = []
    for background in ("coffee", "rocket"):
        scene = hard_scene(fer_split.images, fer_split.labels, 10, rng, background=background)
        assert scene.frame.shape == (480, 640, 3) and scene.frame.dtype == np.uint8
        assert len(scene.boxes) == len(scene.labels) >= 5
        for x1, y1, x2, y2 in scene.boxes:
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
            sizes.append(x2 - x1)
    assert HARD_FACE_PX[0] <= min(sizes) and max(sizes) <= HARD_FACE_PX[1]


def test_a_hard_scene_is_the_same_for_the_same_seed(fer_split):
    first = hard_scene(fer_split.images, fer_split.labels, 6, np.random.default_rng(5))
    again = hard_scene(fer_split.images, fer_split.labels, 6, np.random.default_rng(5))
    assert first.boxes == again.boxes and np.array_equal(first.frame, again.frame)
