import numpy as np
import pytest

from fer.crop import crop_face, crop_faces, square_box


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
