import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer.errors import InputError, ModelLoadError
from fer.pipeline import FrameAnalyzer
from fer.track import iou, match


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
    from fer.data import EMOTIONS

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
def test_frames_that_cannot_be_analysed_raise_input_error(analyzer, frame, message):
    with pytest.raises(InputError, match=message):
        analyzer.analyze(frame)


def test_a_missing_model_surfaces_as_model_load_error_on_load(tmp_path):
    with pytest.raises(ModelLoadError, match="missing.keras"):
        FrameAnalyzer(model_path=tmp_path / "missing.keras").load()
