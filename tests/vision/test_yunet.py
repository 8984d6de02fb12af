"""YuNet on LiteRT (fer.vision.yunet): the wheel's faces, decoding, suppression, concurrency."""

import threading

import cv2
import numpy as np
import pytest

from fer.vision.track import iou
from fer.vision.yunet import MIN_SCORE, STRIDES, YUNET_MODEL_PATH, decode, load_yunet, nms


def _box(row):
    return (row[1], row[2], row[1] + row[3], row[2] + row[4])


@pytest.fixture(scope="module")
def frames(fer_split, astronaut):
    from fer.bench.scenes import hard_scene

    rng = np.random.default_rng(21)
    hard = [hard_scene(fer_split.images, fer_split.labels, 10, rng, background=bg).frame
            for bg in ("coffee", "rocket", "chelsea", "astronaut")]
    odd = cv2.resize(astronaut[0], (333, 250))  # not a multiple of 32: padded for the search
    return hard + [astronaut[0], odd]


def test_it_finds_the_faces_the_yuface_wheel_finds_with_the_same_scores_and_landmarks(frames):
    wheel_detect = pytest.importorskip("yuface.yuface").detect
    lite = load_yunet()
    compared = 0
    for frame in frames:
        wheel = np.asarray(wheel_detect(np.ascontiguousarray(frame)), np.float32).reshape(-1, 16)
        ours = lite.search(frame)
        for row in wheel[wheel[:, 0] >= 30]:  # the wheel's scores are whole percents, boxes whole pixels
            twins = [o for o in ours if iou(_box(row), _box(o)) >= 0.8]
            assert twins, f"the wheel's face {row[:5]} is missing: {ours[:, :5]}"
            assert abs(twins[0][0] * 100 - row[0]) <= 2
            assert np.abs(twins[0][5:15] - row[5:15]).max() <= 2  # landmarks truncated to whole pixels there
            compared += 1
        assert sum(ours[:, 0] >= 0.5) == sum(wheel[:, 0] >= 50)
    assert compared >= 20


def test_rows_are_sorted_scores_from_the_floor_with_boxes_in_the_images_pixels(frames):
    for frame in frames:
        rows = load_yunet().search(frame)
        assert rows.shape[1] == 15 and rows.dtype == np.float32
        assert (np.diff(rows[:, 0]) <= 0).all() and (rows[:, 0] >= MIN_SCORE).all() and (rows[:, 0] <= 1).all()
        height, width = frame.shape[:2]
        centres = rows[:, 1:3] + rows[:, 3:5] / 2
        assert ((centres >= 0) & (centres <= [width, height])).all()


def test_decode_turns_one_confident_cell_into_its_box_and_landmarks():
    levels = [np.full((64 // s, 64 // s, 16), -10.0, np.float32) for s in STRIDES]  # a 64x64 search
    cell = levels[1][1, 2]  # stride 16, row 1, column 2: the anchor point (32, 16)
    cell[0] = cell[15] = 10.0  # class and objectness logits
    cell[1:5] = [0.5, -0.25, np.log(2.0), np.log(3.0)]  # centre (40, 12), 32 x 48 px
    cell[5:15] = np.tile([1.0, 2.0], 5)  # every point at (48, 48)
    (row,) = decode(levels)
    assert row[0] == pytest.approx(1.0, abs=1e-4)
    assert row[1:5] == pytest.approx([24.0, -12.0, 32.0, 48.0])
    assert row[5:15] == pytest.approx(np.tile([48.0, 48.0], 5))


def test_suppression_keeps_the_best_of_overlapping_boxes_and_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 10, 10], [0, 0, 10, 30]], np.float32)
    assert nms(boxes, 0.3) == [0, 2]  # box 3 overlaps box 0 by a third (IoU 1/3), box 1 by 0.68
    assert nms(boxes, 0.34) == [0, 2, 3]


def test_concurrent_searches_give_what_one_search_gives(frames):
    lite = load_yunet()
    expected = [lite.search(f) for f in frames]
    results, errors = {}, []

    def run(worker):
        try:
            results[worker] = [lite.search(f) for f in frames]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == 4
    for got in results.values():
        for a, b in zip(got, expected):
            assert np.array_equal(a, b)


def test_the_shipped_model_file_is_the_one_the_detector_loads():
    assert YUNET_MODEL_PATH.name == "yunet.tflite" and YUNET_MODEL_PATH.is_file()
    assert load_yunet().path == YUNET_MODEL_PATH


def test_idle_interpreters_of_many_sizes_are_bounded_by_their_pixels(astronaut):
    from fer.vision.yunet import MAX_IDLE_PIXELS, YuNetLite

    lite = YuNetLite(YUNET_MODEL_PATH)
    for side in range(320, 320 + 96 * 12, 96):  # twelve padded shapes, as uploads of any size give
        rows = lite.search(cv2.resize(astronaut[0], (side, side)))
        assert len(rows) >= 1 and rows[0][0] > 0.7
        assert lite.idle_pixels() <= max(MAX_IDLE_PIXELS, (-(-side // 32) * 32) ** 2)
    assert sum(len(slots) for slots in lite._idle.values()) == lite.interpreters  # the dropped ones are gone
    assert lite.interpreters < 12
