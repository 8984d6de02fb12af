from pathlib import Path

import numpy as np
import pytest

from fer import resources
from fer.classify import DEFAULT_MODEL_PATH, EmotionClassifier, load_model
from fer.errors import ModelLoadError


@pytest.fixture(scope="module")
def crops(fer_split):
    return fer_split.images[:10]


def test_batched_probs_equal_per_face_probs(tiny_model_path, crops):
    classifier = EmotionClassifier(tiny_model_path)
    batched = classifier.predict(crops)
    one_by_one = np.concatenate([classifier.predict(crops[i : i + 1]) for i in range(len(crops))])
    assert batched.shape == (10, 7)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_compiled_path_matches_keras_inference(tiny_model_path, crops):
    import keras

    reference = keras.models.load_model(tiny_model_path, compile=False).predict(
        crops.astype(np.float32)[..., None], verbose=0
    )
    np.testing.assert_allclose(EmotionClassifier(tiny_model_path).predict(crops), reference, atol=1e-5)
    np.testing.assert_allclose(EmotionClassifier(tiny_model_path).predict(crops).sum(axis=1), 1.0, atol=1e-5)


def test_the_model_is_loaded_once_per_process(tiny_model_path):
    assert load_model(tiny_model_path) is load_model(Path(str(tiny_model_path)))
    assert EmotionClassifier(tiny_model_path).load() is load_model(tiny_model_path)


def test_an_empty_batch_needs_no_model():
    assert EmotionClassifier("/nonexistent.keras").predict(np.empty((0, 48, 48), np.uint8)).shape == (0, 7)


def test_a_missing_model_file_is_a_model_load_error_naming_it(tmp_path):
    missing = tmp_path / "nope.keras"
    with pytest.raises(ModelLoadError, match="nope.keras: no such model file"):
        EmotionClassifier(missing).predict(np.zeros((1, 48, 48), np.uint8))


@pytest.mark.parametrize("content", [b"", b"this is not a zip archive", b"PK\x03\x04broken"])
def test_a_corrupt_model_file_is_a_model_load_error_naming_it(tmp_path, content):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(content)
    with pytest.raises(ModelLoadError, match="broken.keras"):
        load_model(bad)


def test_a_model_with_another_contract_is_refused(tmp_path):
    import keras

    path = tmp_path / "other.keras"
    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs))).save(path)
    with pytest.raises(ModelLoadError, match="expected"):
        load_model(path)


def test_a_failed_load_is_retried_once_the_file_is_fixed(tmp_path, tiny_model_path):
    path = tmp_path / "later.keras"
    with pytest.raises(ModelLoadError):
        load_model(path)
    path.write_bytes(Path(tiny_model_path).read_bytes())
    assert load_model(path).keras_model is not None


def test_the_shipped_model_keeps_the_contract(crops):
    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip(f"{DEFAULT_MODEL_PATH} not trained yet (python -m fer.train)")
    probs = EmotionClassifier().predict(crops)
    assert probs.shape == (10, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_resources_cache_can_be_cleared_for_a_fresh_load(tiny_model_path):
    first = load_model(tiny_model_path)
    resources.clear()
    assert load_model(tiny_model_path) is not first
