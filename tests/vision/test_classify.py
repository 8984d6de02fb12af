from pathlib import Path

import numpy as np
import pytest

from fer import resources
from fer.errors import ModelLoadError
from fer.vision.classify import DEFAULT_MODEL_PATH, EmotionClassifier, load_model


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
        pytest.skip(f"{DEFAULT_MODEL_PATH} not trained yet (python -m fer train)")
    probs = EmotionClassifier().predict(crops)
    assert probs.shape == (10, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_resources_cache_can_be_cleared_for_a_fresh_load(tiny_model_path):
    first = load_model(tiny_model_path)
    resources.clear()
    assert load_model(tiny_model_path) is not first


def test_a_keras_file_is_served_by_keras_where_tensorflow_is_installed(tiny_model_path):
    loaded = load_model(tiny_model_path)
    assert loaded.backend == "keras" and loaded.keras_model is not None


# --- LiteRT backend (.tflite, made by fer.training.export)


@pytest.fixture(scope="module")
def tiny_tflite(tiny_model_path, tmp_path_factory):
    from fer.training.export import export

    return export(tiny_model_path, tmp_path_factory.mktemp("tflite") / "tiny.tflite", quantize=False).path


def test_a_tflite_file_is_served_by_litert_with_the_keras_outputs(tiny_tflite, tiny_model_path, crops):
    served = load_model(tiny_tflite)
    assert served.backend == "litert" and served.keras_model is None
    np.testing.assert_allclose(
        EmotionClassifier(tiny_tflite).predict(crops), EmotionClassifier(tiny_model_path).predict(crops), atol=1e-5
    )
    assert np.asarray(served.predict(np.empty((0, 48, 48, 1), np.float32))).shape == (0, 7)
    with pytest.raises(ValueError, match=r"\(N, 48, 48, 1\)"):
        served.predict(np.zeros((2, 48, 48), np.float32))


def test_concurrent_litert_predictions_equal_sequential_ones(tiny_tflite):
    import threading

    resources.clear()
    served = load_model(tiny_tflite)
    rng = np.random.default_rng(1)
    batches = [rng.uniform(0, 255, (n, 48, 48, 1)).astype(np.float32) for n in (1, 2, 3, 5, 7, 10, 4, 1)]
    expected = [np.asarray(served.predict(b)) for b in batches]
    start, failures = threading.Barrier(4), []

    def worker(offset: int) -> None:
        start.wait()
        for round_ in range(12):  # each thread walks the batches in its own order: sizes keep changing
            i = (offset + round_) % len(batches)
            got = np.asarray(served.predict(batches[i]))
            if not np.array_equal(got, expected[i]):
                failures.append((offset, i, float(np.abs(got - expected[i]).max())))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert 1 <= served.predict.interpreters <= 4  # a pool, bounded by the concurrent callers


@pytest.mark.parametrize("content", [b"", b"this is not a flatbuffer", b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40, None])
def test_a_corrupt_tflite_file_is_a_model_load_error_naming_it(tmp_path, tiny_tflite, content):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(tiny_tflite.read_bytes()[:5000] if content is None else content)
    with pytest.raises(ModelLoadError, match="broken.tflite"):
        load_model(bad)


def test_a_missing_tflite_file_is_a_model_load_error_naming_it(tmp_path):
    with pytest.raises(ModelLoadError, match="nope.tflite: no such model file"):
        load_model(tmp_path / "nope.tflite")


def test_a_tflite_model_with_another_contract_is_refused(tmp_path):
    import keras

    from fer.training.export import convert

    inputs = keras.Input((32, 32, 3))
    path = tmp_path / "other.tflite"
    path.write_bytes(convert(keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))))
    with pytest.raises(ModelLoadError, match="other.tflite: model maps .* expected"):
        load_model(path)


def test_large_litert_batches_are_chunked_with_the_same_results(tiny_tflite):
    from fer.vision.classify import MAX_LITERT_BATCH

    served = load_model(tiny_tflite)
    x = np.random.default_rng(2).uniform(0, 255, (2 * MAX_LITERT_BATCH + 5, 48, 48, 1)).astype(np.float32)
    whole = np.asarray(served.predict(x))
    parts = np.concatenate([np.asarray(served.predict(x[i : i + 7])) for i in range(0, len(x), 7)])
    assert whole.shape == (len(x), 7)
    np.testing.assert_allclose(whole, parts, atol=1e-6)


def test_a_multithreaded_litert_classifier_gives_the_single_threaded_probs(tiny_tflite, crops):
    one, two = EmotionClassifier(tiny_tflite, threads=1), EmotionClassifier(tiny_tflite, threads=2)
    assert one.load() is not two.load()  # cached per thread count: the app's 1-thread pool stays apart
    assert two.load() is EmotionClassifier(tiny_tflite, threads=2).load()
    np.testing.assert_allclose(two.predict(crops), one.predict(crops), atol=1e-6)


def test_zero_classifier_threads_are_refused(tiny_tflite):
    from fer.vision.pipeline import AnalyzerOptions

    with pytest.raises(ValueError, match="threads must be >= 1"):
        load_model(tiny_tflite, threads=0)
    with pytest.raises(ValueError, match="classifier_threads must be >= 1"):
        AnalyzerOptions(classifier_threads=0)
