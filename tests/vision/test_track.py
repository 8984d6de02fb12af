import numpy as np
import pytest

from fer.vision.records import Face
from fer.vision.track import FaceFollower, FaceTracker, TrackerOptions, iou, match


def onehot(i):
    p = np.full(7, 0.0, np.float32)
    p[i] = 1.0
    return p


def classified(boxes, probs, score=0.9):
    """Face records as the classifier hands them to the tracker: box, score, raw probabilities."""
    return [Face(box=tuple(b), probs=np.asarray(p, np.float32), score=score) for b, p in zip(boxes, probs)]


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_matching_pairs_each_box_with_its_own_track():
    tracks = [(0, 0, 10, 10), (100, 0, 110, 10)]
    boxes = [(101, 1, 111, 11), (1, 1, 11, 11)]
    assert sorted(match(tracks, boxes, 0.3)) == [(0, 1), (1, 0)]


def test_ids_stay_stable_while_two_faces_drift_and_swap_list_order():
    tracker = FaceTracker()
    first = tracker.update(classified([(0, 0, 50, 50), (200, 0, 250, 50)], np.stack([onehot(0), onehot(1)])), 0.0)
    ids = {f.box[0] // 100: f.track_id for f in first}
    for step in range(1, 10):
        boxes = [(200 + 3 * step, 0, 250 + 3 * step, 50), (3 * step, 0, 50 + 3 * step, 50)]
        faces = tracker.update(classified(boxes, np.stack([onehot(1), onehot(0)])), step * 0.1)
        assert faces[0].track_id == ids[2] and faces[1].track_id == ids[0]


def test_a_lost_face_expires_after_the_missed_frame_limit_and_returns_with_a_new_id():
    tracker = FaceTracker(TrackerOptions(max_missed_frames=3, max_missed_seconds=100))
    box = (10, 10, 60, 60)
    old_id = tracker.update(classified([box], onehot(3)[None]), 0.0)[0].track_id
    for t in range(1, 4):  # missed 3 times: still remembered
        tracker.update(classified([], np.empty((0, 7))), t)
    assert tracker.update(classified([box], onehot(3)[None]), 4)[0].track_id == old_id
    for t in range(5, 9):  # missed 4 times: gone
        tracker.update(classified([], np.empty((0, 7))), t)
    assert tracker.update(classified([box], onehot(3)[None]), 9)[0].track_id != old_id


def test_a_lost_face_expires_after_the_missed_seconds_limit():
    tracker = FaceTracker(TrackerOptions(max_missed_frames=100, max_missed_seconds=1.0))
    box = (10, 10, 60, 60)
    old_id = tracker.update(classified([box], onehot(3)[None]), 0.0)[0].track_id
    tracker.update(classified([], np.empty((0, 7))), 1.5)
    assert tracker.update(classified([box], onehot(3)[None]), 1.6)[0].track_id != old_id


def test_smoothing_is_an_exponential_moving_average_of_each_track():
    tracker = FaceTracker(TrackerOptions(smoothing=0.25))
    box = (0, 0, 40, 40)
    assert np.allclose(tracker.update(classified([box], onehot(0)[None]), 0)[0].probs, onehot(0))
    second = tracker.update(classified([box], onehot(3)[None]), 0.1)[0].probs
    assert np.allclose(second, 0.75 * onehot(0) + 0.25 * onehot(3))
    third = tracker.update(classified([box], onehot(3)[None]), 0.2)[0].probs
    assert np.allclose(third, 0.75 * second + 0.25 * onehot(3))
    assert third.sum() == pytest.approx(1.0)


def test_a_single_flickering_frame_does_not_flip_the_label():
    tracker = FaceTracker(TrackerOptions(smoothing=0.4))
    box = (0, 0, 40, 40)
    for t in range(5):
        tracker.update(classified([box], (0.8 * onehot(3) + 0.2 / 7)[None]), t)
    face = tracker.update(classified([box], (0.8 * onehot(4) + 0.2 / 7)[None]), 5)[0]
    assert face.label == "happy"


def test_new_faces_get_fresh_ids_and_reset_starts_over():
    tracker = FaceTracker()
    a = tracker.update(classified([(0, 0, 10, 10)], onehot(0)[None]), 0)[0].track_id
    b = tracker.update(classified([(0, 0, 10, 10), (50, 50, 60, 60)], np.stack([onehot(0), onehot(1)])), 1)[1].track_id
    assert b != a
    tracker.reset()
    assert tracker.update(classified([(50, 50, 60, 60)], onehot(1)[None]), 2)[0].track_id == 1


def test_live_faces_are_the_faces_seen_on_the_last_update():
    tracker = FaceTracker()
    first = tracker.update(classified([(0, 0, 10, 10), (50, 50, 60, 60)], np.stack([onehot(0), onehot(1)])), 0)
    tracker.update(classified([(0, 0, 10, 10)], onehot(0)[None]), 1)
    assert [(f.track_id, f.box) for f in tracker.live_faces()] == [(first[0].track_id, (0, 0, 10, 10))]


def test_the_tracker_keeps_every_other_field_of_the_record():
    tracker = FaceTracker()
    marks = np.arange(10, dtype=np.float32).reshape(5, 2)
    face = Face(box=(0, 0, 40, 40), probs=onehot(2), score=0.77, landmarks=marks, detected=False)
    out = tracker.update([face], 0.0)[0]
    assert out.track_id == 1 and out.score == 0.77 and out.detected is False
    assert np.array_equal(out.landmarks, marks)


def test_faces_must_be_classified_before_tracking():
    with pytest.raises(ValueError, match="classify"):
        FaceTracker().update([Face(box=(0, 0, 10, 10))], 0.0)


def _gray(frame):
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def test_the_follower_moves_a_box_onto_a_face_that_moved(astronaut):
    frame, golden = astronaut
    follower = FaceFollower()
    follower.remember(_gray(frame), [(1, golden)])
    for dy, dx in [(18, -22), (-10, 30), (0, 0)]:  # the student shifted, then came back
        moved = np.roll(frame, (dy, dx), axis=(0, 1))
        expected = (golden[0] + dx, golden[1] + dy, golden[2] + dx, golden[3] + dy)
        (box,) = follower.follow(_gray(moved), [(1, golden)])
        assert box is not None and iou(box, expected) > 0.85, (dy, dx, box)
        assert box[2] - box[0] == golden[2] - golden[0] and box[3] - box[1] == golden[3] - golden[1]


def test_the_follower_reports_a_face_that_is_gone_as_none(astronaut):
    frame, golden = astronaut
    follower = FaceFollower()
    follower.remember(_gray(frame), [(1, golden)])
    assert follower.follow(np.full(frame.shape[:2], 127, np.uint8), [(1, golden)]) == [None]
    noise = np.random.default_rng(0).integers(0, 256, frame.shape[:2], dtype=np.uint8)
    assert follower.follow(noise, [(1, golden)]) == [None]


def test_the_follower_knows_only_the_tracks_of_the_last_detection(astronaut):
    frame, golden = astronaut
    follower = FaceFollower()
    follower.remember(_gray(frame), [(1, golden)])
    follower.remember(_gray(frame), [(2, golden)])
    assert follower.follow(_gray(frame), [(1, golden), (3, golden)]) == [None, None]
    assert follower.follow(_gray(frame), [(2, golden)])[0] is not None
    follower.reset()
    assert follower.follow(_gray(frame), [(2, golden)]) == [None]


def test_the_follower_handles_boxes_at_the_frame_edge_and_tiny_boxes(astronaut):
    frame, golden = astronaut
    gray = _gray(frame)
    height, width = gray.shape
    edge, tiny, outside = (width - 60, height - 60, width + 40, height + 40), (0, 0, 3, 3), (width + 10, 0, width + 90, 80)
    follower = FaceFollower()
    follower.remember(gray, [(1, edge), (2, tiny), (3, outside), (4, golden)])
    results = follower.follow(gray, [(1, edge), (2, tiny), (3, outside), (4, (0, 0, width, height))])
    assert len(results) == 4 and results[1] is None and results[2] is None
    assert all(r is None or (r[0] >= 0 and r[1] >= 0) for r in results)
