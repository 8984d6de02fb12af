import numpy as np
import pytest

from fer.vision.crop import crop_face, crop_faces, eye_angle, square_box


def test_square_box_is_centred_and_enlarged_by_the_margin():
    x1, y1, x2, y2 = square_box((100, 100, 140, 180), margin=0.25)
    assert x2 - x1 == y2 - y1 == 100
    assert (x1 + x2) / 2 == 120 and (y1 + y2) / 2 == 140


def test_crop_of_a_placed_real_face_matches_the_original(fer_split):
    import cv2

    face = fer_split.images[3]
    frame = np.full((300, 400), 90, np.uint8)
    frame[50:146, 200:296] = cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC)
    crop = crop_face(frame, (200, 50, 296, 146), margin=0.0)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert np.corrcoef(crop.ravel().astype(float), face.ravel().astype(float))[0, 1] > 0.97


def test_face_cut_by_the_frame_edge_is_padded_with_edge_pixels():
    frame = np.tile(np.arange(100, dtype=np.uint8), (100, 1))  # value = x
    crop = crop_face(frame, (-20, 30, 20, 70), margin=0.0)  # left half outside the frame
    assert crop.shape == (48, 48)
    assert (crop[:, :20] == 0).all()  # the missing half replicates column 0
    assert crop[:, -1].min() > 10


@pytest.mark.parametrize("box", [(0, 0, 30, 30), (70, 70, 100, 100), (-5, 90, 25, 120)])
def test_crops_at_each_corner_are_full_size(box):
    frame = np.random.default_rng(0).integers(0, 255, (100, 100), dtype=np.uint8)
    assert crop_face(frame, box).shape == (48, 48)


def test_box_outside_the_frame_is_refused():
    with pytest.raises(ValueError, match="outside"):
        crop_face(np.zeros((50, 50), np.uint8), (60, 60, 90, 90), margin=0.0)


def test_a_frame_with_no_boxes_gives_an_empty_batch():
    assert crop_faces(np.zeros((50, 50), np.uint8), []).shape == (0, 48, 48)


# --- Eye-line alignment


def _landmarks(left_eye, right_eye) -> np.ndarray:
    (lx, ly), (rx, ry) = left_eye, right_eye
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    return np.array([left_eye, right_eye, (mx, my + 15), (lx + 5, my + 30), (rx - 5, my + 30)], np.float32)


def _tilted_eyes(degrees: float, centre=(100.0, 100.0), half_span: float = 25.0):
    """A flat gray frame with two dark eye blobs on a line tilted by ``degrees`` (right eye
    lower for positive), and the landmarks a detector would give for it."""
    import cv2

    frame = np.full((200, 200), 160, np.uint8)
    t = np.radians(degrees)
    offset = np.array([np.cos(t), np.sin(t)]) * half_span
    left, right = np.array(centre) - offset, np.array(centre) + offset
    for x, y in (left, right):
        cv2.circle(frame, (int(round(x)), int(round(y))), 6, 20, -1, lineType=cv2.LINE_AA)
    return frame, _landmarks(tuple(left), tuple(right))


def _blob_rows(crop: np.ndarray) -> list[float]:
    import cv2

    count, _, _, centroids = cv2.connectedComponentsWithStats((crop < 90).astype(np.uint8))
    assert count == 3, f"expected two eye blobs, found {count - 1}"
    return sorted(centroids[1:], key=lambda c: c[0])  # left blob first


def _plain_reference(gray: np.ndarray, box, margin: float) -> np.ndarray:
    """The crop as it was before alignment existed: edge-padded square, resized."""
    import cv2

    x1, y1, x2, y2 = square_box(box, margin)
    h, w = gray.shape
    pads = ((max(0, -y1), max(0, y2 - h)), (max(0, -x1), max(0, x2 - w)))
    padded = np.pad(gray, pads, mode="edge")
    patch = padded[y1 + pads[0][0] : y2 + pads[0][0], x1 + pads[1][0] : x2 + pads[1][0]]
    return cv2.resize(patch, (48, 48), interpolation=cv2.INTER_AREA if patch.shape[0] > 48 else cv2.INTER_LINEAR)


@pytest.mark.parametrize("degrees", [-30.0, -12.0, 8.0, 20.0, 40.0])
def test_landmarks_level_a_tilted_eye_line(degrees):
    frame, marks = _tilted_eyes(degrees)
    box = (50, 50, 150, 150)
    plain_left, plain_right = _blob_rows(crop_face(frame, box, margin=0.0))
    assert abs(plain_left[1] - plain_right[1]) > 2  # the tilt shows without alignment
    left, right = _blob_rows(crop_face(frame, box, margin=0.0, landmarks=marks))
    assert abs(left[1] - right[1]) < 1.0
    assert left[0] < 24 < right[0]  # not turned upside down: left eye stays on the left


@pytest.mark.parametrize("box", [(50, 40, 130, 160), (-20, 30, 20, 70), (170, 170, 230, 230), (0, 0, 31, 29)])
def test_without_landmarks_the_crop_is_unchanged(box):
    frame = np.random.default_rng(1).integers(0, 255, (200, 200), dtype=np.uint8)
    expected = _plain_reference(frame, box, 0.1)
    assert np.array_equal(crop_face(frame, box, margin=0.1), expected)
    assert np.array_equal(crop_face(frame, box, margin=0.1, landmarks=None), expected)
    batch = crop_faces(frame, [box, box], margin=0.1, landmarks=[None, None])
    assert np.array_equal(batch[0], expected) and np.array_equal(batch[1], expected)


@pytest.mark.parametrize("degrees", [1.5, -2.5, 50.0, -70.0, 180.0])
def test_tiny_or_glitchy_tilts_are_not_applied(degrees):
    frame, marks = _tilted_eyes(degrees, half_span=20.0)
    box = (50, 50, 150, 150)
    assert eye_angle(marks) is None
    assert np.array_equal(crop_face(frame, box, landmarks=marks), crop_face(frame, box))


def test_malformed_landmarks_are_ignored():
    frame = np.random.default_rng(2).integers(0, 255, (100, 100), dtype=np.uint8)
    plain = crop_face(frame, (20, 20, 80, 80))
    nan = _landmarks((30, 40), (70, 60))
    nan[0, 0] = np.nan
    for marks in (nan, np.zeros((5, 2), np.float32), np.ones((3, 2), np.float32)):
        assert np.array_equal(crop_face(frame, (20, 20, 80, 80), landmarks=marks), plain)


@pytest.mark.parametrize("box", [(-30, 60, 40, 130), (150, -25, 220, 45), (170, 170, 240, 240)])
def test_a_tilted_face_cut_by_the_frame_edge_still_gives_a_full_crop(box):
    frame = np.random.default_rng(3).integers(60, 200, (200, 200), dtype=np.uint8)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    marks = _landmarks((cx - 15, cy - 10), (cx + 15, cy + 2))  # about 22 degrees
    assert eye_angle(marks) is not None
    crop = crop_face(frame, box, landmarks=marks)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop.min() >= 60  # the missing part replicates edge pixels, no black wedge


def test_a_turned_large_face_is_averaged_down_like_the_plain_crop():
    """Shrinking 200 pixels to 48 must average, as the plain crop's INTER_AREA does, not
    point-sample: fine detail (here pixel noise) would otherwise alias into the crop."""
    frame = np.random.default_rng(4).integers(0, 256, (400, 400)).astype(np.uint8)
    box = (100, 100, 300, 300)
    marks = _landmarks((160, 190), (240, 210))  # about 14 degrees
    plain = crop_face(frame, box, margin=0.0).astype(float)
    aligned = crop_face(frame, box, margin=0.0, landmarks=marks).astype(float)
    assert aligned.std() < 1.5 * plain.std()
    assert abs(aligned.mean() - plain.mean()) < 3


def test_crop_faces_pairs_landmarks_with_boxes():
    frame, marks = _tilted_eyes(20.0)
    boxes = [(50, 50, 150, 150), (50, 50, 150, 150)]
    batch = crop_faces(frame, boxes, margin=0.0, landmarks=[marks, None])
    assert np.array_equal(batch[0], crop_face(frame, boxes[0], margin=0.0, landmarks=marks))
    assert np.array_equal(batch[1], crop_face(frame, boxes[1], margin=0.0))
    with pytest.raises(ValueError, match="landmark"):
        crop_faces(frame, boxes, landmarks=[marks])
