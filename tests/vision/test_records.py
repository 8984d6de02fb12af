import numpy as np

from fer.emotions import EMOTIONS
from fer.vision.pose import HeadPose
from fer.vision.records import ROW_COLUMNS, Face, face_row


def test_a_full_record_becomes_one_flat_row_in_the_documented_column_order():
    probs = np.array([0.1, 0, 0, 0.6, 0.1, 0.1, 0.1], np.float32)
    face = Face(box=(1, 2, 30, 40), probs=probs, track_id=7, score=0.91234, detected=False,
                pose=HeadPose(yaw=35.0, pitch=-3.0, roll=2.5))
    row = face_row(face, time_s=1.5, frame=3)
    assert list(row) == ["time_s", "frame", *ROW_COLUMNS]
    assert (row["x1"], row["y2"], row["label"], row["confidence"]) == (1, 40, "happy", 0.6)
    assert row["detector_score"] == 0.9123 and row["detected"] is False
    assert (row["yaw"], row["facing"]) == (35.0, False)
    assert [row[name] for name in EMOTIONS] == [round(float(p), 5) for p in probs]


def test_a_record_without_pose_or_probabilities_leaves_those_columns_empty():
    row = face_row(Face(box=(0, 0, 10, 10)))
    assert row["label"] is None and row["yaw"] is None and row["facing"] is None
    assert all(row[name] is None for name in EMOTIONS)


def test_a_followed_face_moves_its_landmarks_with_the_box_and_keeps_its_score():
    marks = np.array([[10, 10], [20, 10], [15, 15], [11, 20], [19, 20]], np.float32)
    face = Face(box=(5, 5, 25, 25), score=0.8, landmarks=marks)
    moved = face.moved((8, 1, 28, 21))
    assert moved.detected is False and moved.score == 0.8
    np.testing.assert_allclose(moved.landmarks, marks + (3, -4))


def test_scaling_a_record_scales_box_and_landmarks_and_clips_to_the_frame():
    marks = np.full((5, 2), 10.0, np.float32)
    face = Face(box=(10, 10, 60, 60), landmarks=marks).scaled(2.0, size=(100, 100))
    assert face.box == (20, 20, 100, 100)
    np.testing.assert_allclose(face.landmarks, marks * 2)
