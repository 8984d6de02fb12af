import zipfile

import numpy as np
import pytest

from fer.emotions import EMOTIONS
from fer.training.data import SPLITS, DatasetError, load_fer2013, load_split, write_csv, write_pack


def test_zip_tree_and_csv_give_identical_arrays(fer_fixture):
    from_zip = load_fer2013(fer_fixture["zip"])
    from_tree = load_fer2013(fer_fixture["tree"])
    from_csv = load_fer2013(fer_fixture["csv"])
    for split in SPLITS:
        assert len(from_zip[split]) > 0
        for other in (from_tree, from_csv):
            np.testing.assert_array_equal(from_zip[split].images, other[split].images)
            np.testing.assert_array_equal(from_zip[split].labels, other[split].labels)


def test_arrays_have_the_documented_shapes_and_label_order(fer_fixture):
    splits = load_fer2013(fer_fixture["zip"])
    train = splits["Training"]
    assert train.images.dtype == np.uint8 and train.images.shape[1:] == (48, 48)
    assert train.labels.dtype == np.int64
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert set(train.labels.tolist()) == set(range(7))


def test_write_csv_round_trips(fer_fixture, tmp_path):
    splits = load_fer2013(fer_fixture["zip"])
    write_csv(splits, tmp_path / "copy.csv")
    again = load_fer2013(tmp_path / "copy.csv")
    for split in SPLITS:
        np.testing.assert_array_equal(splits[split].images, again[split].images)


def test_pack_round_trips_close_to_the_source(fer_fixture, tmp_path):
    splits = load_fer2013(fer_fixture["zip"])
    write_pack(splits, tmp_path / "pack.npz", quality=100)
    again = load_fer2013(tmp_path / "pack.npz")
    for split in SPLITS:
        np.testing.assert_array_equal(splits[split].labels, again[split].labels)
        # JPEG re-encoding at quality 100 moves pixels by a few levels at most.
        assert np.abs(splits[split].images.astype(int) - again[split].images).mean() < 2


def test_the_shared_gpu_pack_decodes_to_the_zip_images(dataset_path):
    pack = dataset_path.parent / "fer2013_gpu_pack.npz"
    if not pack.exists():
        pytest.skip(f"{pack} not present")
    from_pack, from_zip = load_fer2013(pack), load_fer2013(dataset_path)
    for split in ("Training", "PublicTest"):
        np.testing.assert_array_equal(np.sort(from_pack[split].labels), np.sort(from_zip[split].labels))
        assert np.array_equal(np.sort(from_pack[split].images.reshape(len(from_pack[split]), -1).sum(1)),
                              np.sort(from_zip[split].images.reshape(len(from_zip[split]), -1).sum(1).astype(np.uint64)))


def test_missing_path_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match="nowhere.zip: no such file"):
        load_fer2013(tmp_path / "nowhere.zip")


def test_zip_of_another_layout_says_what_was_expected(tmp_path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("holiday/beach.jpg", b"not relevant")
    with pytest.raises(DatasetError, match=r"photos.zip: found no FER-2013 images; expected train/<emotion>"):
        load_fer2013(path)


def test_corrupt_zip_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DatasetError, match="broken.zip: not a readable zip"):
        load_fer2013(path)


def test_undecodable_image_in_zip_names_the_entry(tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train/happy/Training_1.jpg", b"garbage")
    with pytest.raises(DatasetError, match="Training_1.jpg: not a readable image"):
        load_fer2013(path)


@pytest.mark.parametrize(
    "row, message",
    [
        ("9," + " ".join(["0"] * 2304) + ",Training", "line 2: emotion 9 is outside 0..6"),
        ("x," + " ".join(["0"] * 2304) + ",Training", "line 2: emotion 'x' is not an integer"),
        ("3," + " ".join(["0"] * 100) + ",Training", "line 2: expected 2304 pixel values 0..255, got 100"),
        ("3," + " ".join(["300"] * 2304) + ",Training", "line 2: expected 2304 pixel values"),
        ("3," + " ".join(["a"] * 2304) + ",Training", "line 2: pixels must be space-separated integers"),
        ("3," + " ".join(["0"] * 2304) + ",Validation", "line 2: Usage 'Validation' is not one of"),
    ],
)
def test_csv_with_a_bad_row_names_file_and_line(tmp_path, row, message):
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + row + "\n")
    with pytest.raises(DatasetError, match=message):
        load_fer2013(path)


def test_csv_missing_a_column_says_which(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels\n0,1 2 3\n")
    with pytest.raises(DatasetError, match="missing Usage"):
        load_fer2013(path)


def test_other_file_types_are_refused_with_the_accepted_forms(tmp_path):
    path = tmp_path / "faces.txt"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="expected a .zip of the folder layout, a folder, fer2013.csv or a .npz pack"):
        load_fer2013(path)


def test_unknown_split_name_is_refused(fer_fixture):
    with pytest.raises(DatasetError, match="unknown split 'Validation'"):
        load_split(fer_fixture["csv"], "Validation")


def test_the_real_data_set_has_the_documented_sizes(dataset_path):
    splits = load_fer2013(dataset_path)
    assert {s: len(v) for s, v in splits.items()} == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert splits["Training"].class_counts()[EMOTIONS.index("disgust")] == 436
