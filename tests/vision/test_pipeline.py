import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer.errors import InputError, ModelLoadError
from fer.vision.pipeline import FrameAnalyzer
from fer.vision.track import iou, match


@pytest.fixture
def analyzer(tiny_model_path):
    return FrameAnalyzer(model_path=tiny_model_path)


def test_import_fer_loads_no_tensorflow():
    code = (
        "import sys, fer; fer.FrameAnalyzer; fer.Face; fer.FerError; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_every_placed_face_gets_a_box_probs_label_and_track_id(analyzer, classroom):
    from fer.emotions import EMOTIONS

    result = analyzer.analyze(classroom.frame)
    assert len(match(classroom.boxes, [f.box for f in result.faces], 0.3)) >= len(classroom.boxes) - 2
    assert len({f.track_id for f in result.faces}) == len(result.faces)
    for face in result.faces:
        assert face.probs.shape == (7,) and face.probs.sum() == pytest.approx(1.0, abs=1e-4)
        assert face.label in EMOTIONS and all(isinstance(v, int) for v in face.box)
    assert result.frame_size == (640, 480)


def test_a_frame_without_faces_is_a_normal_empty_result(analyzer):
    result = analyzer.analyze(np.full((480, 640, 3), 200, np.uint8))
    assert result.faces == [] and result.detected


def test_track_ids_are_stable_over_consecutive_frames(analyzer, classroom):
    first = analyzer.analyze(classroom.frame, timestamp=0.0)
    shifted = np.roll(classroom.frame, (3, 4), axis=(0, 1))
    second = analyzer.analyze(shifted, timestamp=0.1)
    pairs = match([f.box for f in first.faces], [f.box for f in second.faces], 0.5)
    assert len(pairs) >= len(first.faces) - 1  # the detector may drop one face on a shift
    assert all(first.faces[a].track_id == second.faces[b].track_id for a, b in pairs)


def test_detecting_every_kth_frame_reuses_the_tracked_boxes(tiny_model_path, classroom):
    analyzer = FrameAnalyzer(model_path=tiny_model_path, detect_every=3)
    results = [analyzer.analyze(classroom.frame, timestamp=t / 10) for t in range(4)]
    assert [r.detected for r in results] == [True, False, False, True]
    assert [f.box for f in results[1].faces] == [f.box for f in results[0].faces]
    assert [f.track_id for f in results[2].faces] == [f.track_id for f in results[0].faces]


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_between_full_searches_boxes_follow_a_moving_face_and_keep_their_last_score(tiny_model_path, astronaut, detector):
    frame, golden = astronaut
    analyzer = FrameAnalyzer(model_path=tiny_model_path, detector=detector, detect_every=10)
    first = analyzer.analyze(frame, timestamp=0.0)
    seen = max(first.faces, key=lambda f: f.score)
    assert seen.detected
    for step in range(1, 6):  # the student drifts 6 px right and 4 px down a frame
        dx, dy = 6 * step, 4 * step
        result = analyzer.analyze(np.roll(frame, (dy, dx), axis=(0, 1)), timestamp=step / 10)
        assert not result.detected
        face = next(f for f in result.faces if f.track_id == seen.track_id)
        expected = (golden[0] + dx, golden[1] + dy, golden[2] + dx, golden[3] + dy)
        assert iou(face.box, expected) > 0.5
        assert face.detected is False and face.score == seen.score  # not re-scored: the last detection's
    assert face.box != seen.box


def test_follow_off_keeps_the_last_detected_boxes(tiny_model_path, astronaut):
    frame, _ = astronaut
    analyzer = FrameAnalyzer(model_path=tiny_model_path, detector="haar", detect_every=10, follow=False)
    first = analyzer.analyze(frame, timestamp=0.0)
    moved = analyzer.analyze(np.roll(frame, (8, 12), axis=(0, 1)), timestamp=0.1)
    assert [f.box for f in moved.faces] == [f.box for f in first.faces]


@pytest.mark.parametrize(
    "convert",
    [
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[:, :, None],
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
        lambda f: f.astype(np.uint16) * 257,
        lambda f: f.astype(np.float32) / 255.0,
    ],
    ids=["gray", "gray-1-channel", "bgra", "uint16", "float-0-1"],
)
def test_other_frame_formats_find_the_same_face(analyzer, astronaut, convert):
    frame, golden = astronaut
    faces = analyzer.analyze(convert(frame)).faces
    assert len(faces) == 1 and iou(faces[0].box, golden) > 0.5


def test_a_huge_frame_is_downscaled_and_boxes_stay_in_its_pixels(analyzer, astronaut):
    frame, golden = astronaut
    huge = np.full((12000, 12000, 3), 128, np.uint8)
    huge[4000:6048, 4000:6048] = cv2.resize(frame, (2048, 2048))
    faces = analyzer.analyze(huge).faces
    expected = tuple(4000 + 4 * v for v in golden)
    assert len(faces) == 1 and iou(faces[0].box, expected) > 0.5


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((1, 1, 3), np.uint8), "too small"),
        (np.zeros((100, 100, 3), np.int32), "dtype int32"),
        (np.zeros((100, 100, 2), np.uint8), "shape"),
        (np.zeros((2, 100, 100, 3), np.uint8), "shape"),
        (np.full((100, 100, 3), np.nan, np.float32), "NaN"),
        ("not a frame", "numpy array"),
        (None, "numpy array"),
    ],
    ids=["1x1", "int32", "2-channel", "4-d", "nan", "str", "none"],
)
def test_frames_that_cannot_be_analyzed_raise_input_error(analyzer, frame, message):
    with pytest.raises(InputError, match=message):
        analyzer.analyze(frame)


def test_the_default_analyzer_is_the_served_path(astronaut):
    from fer.vision.classify import SERVED_MODEL_PATH

    analyzer = FrameAnalyzer()
    assert analyzer.options.model_path == SERVED_MODEL_PATH and analyzer.detector.name == "yunet"
    assert analyzer.classifier.threads == (os.cpu_count() or 1)
    face = analyzer.analyze(astronaut[0]).faces[0]
    assert face.landmarks.shape == (5, 2) and face.pose is not None and face.facing is True


def test_the_second_look_is_on_by_default_and_set_or_turned_off_by_option(tiny_model_path):
    from fer.vision.detect import DEFAULT_RECHECK_FROM

    assert FrameAnalyzer(model_path=tiny_model_path).detector.recheck_from == DEFAULT_RECHECK_FROM > 0
    assert FrameAnalyzer(model_path=tiny_model_path, detect_recheck=0).detector.recheck_from == 0
    assert FrameAnalyzer(model_path=tiny_model_path, detect_recheck=0.2, detect_max_side=320).detector.recheck_from == 0.2
    assert FrameAnalyzer(model_path=tiny_model_path, detector="haar", detect_recheck=0.2).detector.name == "haar"


def test_each_face_record_carries_pose_and_landmarks_in_input_pixels(tiny_model_path, astronaut):
    frame, golden = astronaut
    big = cv2.resize(frame, (3072, 3072))  # shrunk to the pipeline's limit first
    # Both searched in a 512 px copy, so the detector sees the same pixels and the pose, from
    # landmarks mapped back to each frame's own pixels, must agree.
    small = FrameAnalyzer(model_path=tiny_model_path, detect_max_side=512).analyze(frame).faces[0]
    face = FrameAnalyzer(model_path=tiny_model_path, detect_max_side=512).analyze(big).faces[0]
    assert iou(face.box, tuple(6 * v for v in golden)) > 0.5
    assert np.allclose(face.landmarks, 6 * small.landmarks, atol=6 * 1.5)
    x1, y1, x2, y2 = face.box
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
    assert abs(face.pose.yaw - small.pose.yaw) < 3 and abs(face.pose.pitch - small.pose.pitch) < 3


def test_a_missing_model_surfaces_as_model_load_error_on_load(tmp_path):
    with pytest.raises(ModelLoadError, match="missing.keras"):
        FrameAnalyzer(model_path=tmp_path / "missing.keras").load()


class _LandmarkDetector:
    """Stands in for a detector with landmarks: fixed boxes with a tilted eye line, and a count of its calls."""

    name = "fake-landmarks"

    def __init__(self, boxes):
        from fer.vision.records import Face

        self.calls = 0
        self.detections = []
        for x1, y1, x2, y2 in boxes:
            cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
            eyes = [(cx - w / 5, cy - w / 6), (cx + w / 5, cy - w / 12)]  # right eye lower: ~12 degrees
            mouth = [(cx - w / 6, cy + w / 4), (cx + w / 6, cy + w / 4)]
            marks = np.array(eyes + [(cx, cy)] + mouth, np.float32)
            self.detections.append(Face(box=(x1, y1, x2, y2), score=0.99, landmarks=marks))

    def detect(self, frame_bgr):
        self.calls += 1
        return list(self.detections)


def test_align_uses_the_detectors_landmarks_also_on_tracked_frames(tiny_model_path, classroom, monkeypatch):
    import fer.vision.crop
    from fer.vision.crop import crop_faces

    seen = []

    def spy(gray, boxes, margin, size=48, landmarks=None, side="longer"):
        seen.append(landmarks)
        return crop_faces(gray, boxes, margin, size, landmarks=landmarks, side=side)

    monkeypatch.setattr(fer.vision.crop, "crop_faces", spy)
    detector = _LandmarkDetector(classroom.boxes)
    analyzer = FrameAnalyzer(model_path=tiny_model_path, face_detector=detector, detect_every=2, align=True)
    results = [analyzer.analyze(classroom.frame, timestamp=t / 10) for t in range(3)]
    assert detector.calls == 2 and [r.detected for r in results] == [True, False, True]
    for result in results:
        assert len(result.faces) == len(classroom.boxes)
        assert all(f.probs.shape == (7,) and f.probs.sum() == pytest.approx(1.0, abs=1e-4) for f in result.faces)
    by_box = {d.box: d.landmarks for d in detector.detections}
    tracked_boxes = [f.box for f in results[1].faces]
    assert all(marks is not None for marks in seen[1])  # the skipped frame reuses the landmarks
    assert all(np.array_equal(m, by_box[b]) for m, b in zip(seen[1], tracked_boxes))

    seen.clear()
    plain = FrameAnalyzer(model_path=tiny_model_path, face_detector=detector, align=False)
    plain.analyze(classroom.frame)
    assert seen == [None]


def test_between_searches_landmarks_move_with_their_followed_box(tiny_model_path, classroom, monkeypatch):
    import fer.vision.crop
    from fer.vision.crop import crop_faces

    seen = []

    def spy(gray, boxes, margin, size=48, landmarks=None, side="longer"):
        seen.append((list(boxes), landmarks))
        return crop_faces(gray, boxes, margin, size, landmarks=landmarks, side=side)

    monkeypatch.setattr(fer.vision.crop, "crop_faces", spy)
    detector = _LandmarkDetector(classroom.boxes)
    analyzer = FrameAnalyzer(model_path=tiny_model_path, face_detector=detector, detect_every=5, align=True)
    analyzer.analyze(classroom.frame, timestamp=0.0)
    dy, dx = 6, -9  # the whole class leans: every face moves the same way
    moved = analyzer.analyze(np.roll(classroom.frame, (dy, dx), axis=(0, 1)), timestamp=0.1)
    assert not moved.detected and len(moved.faces) == len(classroom.boxes)
    by_box = {d.box: d.landmarks for d in detector.detections}
    boxes, landmarks = seen[1]
    for box, marks in zip(boxes, landmarks):
        origin = min(by_box, key=lambda b: abs(b[0] + dx - box[0]) + abs(b[1] + dy - box[1]))
        assert abs(box[0] - origin[0] - dx) <= 2 and abs(box[1] - origin[1] - dy) <= 2, (box, origin)
        np.testing.assert_allclose(marks, by_box[origin] + (box[0] - origin[0], box[1] - origin[1]))


def test_the_enlarged_search_reaches_yunet_only(tiny_model_path):
    enlarged = FrameAnalyzer(model_path=tiny_model_path, detect_max_side=960, detect_upscale=True).detector
    assert enlarged.upscale is True and enlarged.max_side == 960
    assert FrameAnalyzer(model_path=tiny_model_path).detector.upscale is False
    assert FrameAnalyzer(model_path=tiny_model_path, detector="haar", detect_upscale=True).detector.name == "haar"
