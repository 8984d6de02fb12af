"""LiteRT export (fer.training.export) and serving without TensorFlow (fer.vision.classify's LiteRT backend)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fer import resources
from fer.errors import ModelLoadError
from fer.training.export import QUANTIZED_TOLERANCE, TOLERANCE, ExportError, export, main
from fer.training.model import ModelSpec, build_model
from fer.vision.classify import DEFAULT_MODEL_PATH, EmotionClassifier, load_model, tflite_sibling

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[2]
SMALL = ModelSpec(widths=(4, 8), convs_per_stage=1)
SHIPPED_TFLITE = tflite_sibling(DEFAULT_MODEL_PATH)


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 48, 48, 1)).astype(np.float32)


def _keras_probs(path, x) -> np.ndarray:
    import keras

    return np.asarray(keras.models.load_model(path, compile=False)(x, training=False))


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory):
    """A small model of the shipped architecture (trained-looking BN statistics) and its export."""
    import keras

    keras.utils.set_random_seed(11)
    model = build_model(SMALL, temperature=1.7)
    for layer in model.layers:  # non-trivial batch-norm statistics, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([gamma * 1.3, beta + 0.1, mean + rng.normal(0, 0.2, mean.shape), var * 1.5])
    folder = tmp_path_factory.mktemp("small")
    model.save(folder / "small.keras")
    result = export(folder / "small.keras", quantize=False)
    return folder / "small.keras", result


@pytest.fixture(scope="module")
def nested_pair(tmp_path_factory):
    """An ensemble as fer.training.ensemble builds it: nested functional members, mirror Dense, Average."""
    import keras

    from fer.training.ensemble import build_ensemble

    keras.utils.set_random_seed(5)
    model = build_ensemble([build_model(SMALL, name="a"), build_model(SMALL, name="b")], mirror=True, temperature=0.8)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Functional", "Dense", "Average"} <= kinds, kinds  # the shape the test is about
    folder = tmp_path_factory.mktemp("nested")
    model.save(folder / "ensemble.keras")
    return folder / "ensemble.keras", export(folder / "ensemble.keras", folder / "served.tflite", quantize=False)


@pytest.mark.parametrize("pair", ["small_pair", "nested_pair"])
def test_litert_export_matches_keras_for_any_batch_size(request, pair):
    keras_path, result = request.getfixturevalue(pair)
    assert result.path.suffix == ".tflite" and result.path.stat().st_size == result.size_bytes
    assert result.max_abs_diff <= TOLERANCE
    served = load_model(result.path)
    assert served.backend == "litert" and served.keras_model is None and served.path == result.path
    for n in (1, 3, 10, 1):  # back to 1: the interpreter is resized down again
        x = _faces(n, seed=n)
        probs = np.asarray(served.predict(x))
        assert probs.shape == (n, 7) and probs.dtype == np.float32
        np.testing.assert_allclose(probs, _keras_probs(keras_path, x), atol=1e-5)


def test_the_default_output_is_the_models_tflite_sibling(small_pair):
    keras_path, result = small_pair
    assert result.path == keras_path.with_suffix(".tflite")


def test_a_mismatching_conversion_is_refused_and_nothing_is_written(tmp_path, small_pair, monkeypatch):
    import fer.training.export as export_module

    keras_path, _ = small_pair
    other = build_model(SMALL, name="other")  # fresh random weights: different outputs
    wrong = export_module.convert(other)
    monkeypatch.setattr(export_module, "convert", lambda model, quantize=True: wrong)
    out = tmp_path / "wrong.tflite"
    with pytest.raises(ExportError, match="differs from Keras by up to .*not written"):
        export(keras_path, out, quantize=False)
    assert not out.exists()


def test_int8_weights_quarter_the_file_and_stay_within_their_tolerance(tmp_path):
    import keras

    keras.utils.set_random_seed(3)  # wide enough that LiteRT quantises the kernels (it skips tiny ones)
    keras_path = tmp_path / "mid.keras"
    build_model(ModelSpec(widths=(16, 32, 64), convs_per_stage=1)).save(keras_path)
    exact = export(keras_path, tmp_path / "float32.tflite", quantize=False)
    result = export(keras_path, tmp_path / "int8.tflite")  # the default: int8 weights
    assert result.quantized and not exact.quantized
    assert result.size_bytes < exact.size_bytes / 2.5
    assert result.max_abs_diff <= QUANTIZED_TOLERANCE
    x = _faces(10, seed=4)
    probs = np.asarray(load_model(result.path).predict(x))
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert np.abs(probs - _keras_probs(keras_path, x)).max() <= QUANTIZED_TOLERANCE


def test_the_command_line_prints_the_difference_and_fails_clearly(tmp_path, small_pair, capsys):
    keras_path, _ = small_pair
    out = tmp_path / "cli.tflite"
    assert main(["--model", str(keras_path), "--out", str(out)]) == 0
    assert out.is_file() and "int8 weights" in (printed := capsys.readouterr().out) and "max |diff|" in printed
    assert main(["--model", str(keras_path), "--out", str(out), "--float32"]) == 0
    assert "float32" in capsys.readouterr().out
    assert main(["--model", str(tmp_path / "missing.keras"), "--out", str(out)]) == 1
    assert "missing.keras: no such model file" in capsys.readouterr().err
    assert main(["--model", str(keras_path), "--out", str(tmp_path / "x.onnx")]) == 1
    assert "must end in .tflite" in capsys.readouterr().err


# --- Serving a .keras path without TensorFlow


@pytest.fixture
def no_tensorflow(monkeypatch):
    """Make `import keras` / `import tensorflow` fail, as in a serving-only install."""
    for name in ("keras", "tensorflow"):
        monkeypatch.setitem(sys.modules, name, None)
    resources.clear()
    yield
    resources.clear()  # no LiteRT stand-in stays cached for the .keras paths of later tests


def test_a_keras_path_is_served_from_its_tflite_sibling_without_tensorflow(small_pair, request):
    keras_path, result = small_pair
    x = _faces(4)
    expected = _keras_probs(keras_path, x)
    request.getfixturevalue("no_tensorflow")
    served = load_model(keras_path)
    assert served.backend == "litert" and served.path == result.path
    np.testing.assert_allclose(np.asarray(served.predict(x)), expected, atol=1e-5)
    np.testing.assert_allclose(EmotionClassifier(keras_path).predict(x[..., 0].astype(np.uint8)).sum(1), 1, atol=1e-5)


def test_without_tensorflow_or_a_sibling_the_error_says_what_to_do(tmp_path, small_pair, no_tensorflow):
    keras_path, _ = small_pair
    lonely = tmp_path / "lonely.keras"
    lonely.write_bytes(keras_path.read_bytes())
    with pytest.raises(ModelLoadError, match=r"lonely.keras: TensorFlow/Keras is not installed.*lonely.tflite.*python -m fer export"):
        load_model(lonely)
    with pytest.raises(ModelLoadError, match="gone.keras: no such model file"):
        load_model(tmp_path / "gone.keras")


def test_with_tensorflow_a_keras_path_is_still_served_by_keras(small_pair):
    keras_path, _ = small_pair
    served = load_model(keras_path)
    assert served.backend == "keras" and served.keras_model is not None and served.path == keras_path


def test_analysis_runs_end_to_end_in_a_process_that_cannot_import_tensorflow(small_pair):
    """The serving install in miniature: TensorFlow/Keras unimportable, Haar detector, LiteRT model."""
    keras_path, _ = small_pair
    code = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow"] = None  # `import tensorflow` now raises ImportError
        sys.modules["keras"] = None
        import numpy as np
        from fer.vision.classify import load_model
        from fer.vision.pipeline import FrameAnalyzer
        loaded = load_model({str(keras_path)!r})
        assert loaded.backend == "litert", loaded
        analyzer = FrameAnalyzer(model_path={str(keras_path)!r}, detector="haar")
        result = analyzer.analyze(np.full((240, 320, 3), 128, np.uint8))
        assert result.faces == [] and result.detected
        probs = analyzer.classifier.predict(np.full((3, 48, 48), 90, np.uint8))
        assert probs.shape == (3, 7) and abs(float(probs.sum()) - 3) < 1e-4
        print("served by", loaded.backend)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "served by litert" in done.stdout


# --- The committed model pair


def _realistic_faces(n: int = 64) -> np.ndarray:
    """FER-2013 faces where the data set is here, smooth synthetic faces otherwise."""
    from fer.bench.scenes import fer_faces
    from fer.training.data import default_dataset_path

    if default_dataset_path() is not None:
        split = fer_faces("PrivateTest")
        pick = np.random.default_rng(3).permutation(len(split.images))[:n]
        return split.images[pick].astype(np.float32)[..., None]
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:48]
    faces = []
    for _ in range(n):
        cx, cy, r = rng.uniform(16, 32), rng.uniform(16, 32), rng.uniform(8, 20)
        faces.append(np.clip(255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) + rng.uniform(0, 60), 0, 255))
    return np.asarray(faces, np.float32)[..., None]


def test_the_committed_tflite_matches_the_committed_keras_model():
    for path in (DEFAULT_MODEL_PATH, SHIPPED_TFLITE):
        if not path.is_file():
            pytest.skip(f"{path.name} missing: train (python -m fer train) and export (python -m fer export)")
    x = _realistic_faces()
    reference = np.asarray(load_model(DEFAULT_MODEL_PATH).predict(x))
    served = load_model(SHIPPED_TFLITE)
    assert served.backend == "litert"
    probs = np.asarray(served.predict(x))
    assert np.max(np.abs(probs - reference)) <= QUANTIZED_TOLERANCE, (
        f"{SHIPPED_TFLITE.name} is stale: run `python -m fer export` after changing {DEFAULT_MODEL_PATH.name}"
    )
    assert (probs.argmax(1) == reference.argmax(1)).mean() >= 0.95  # int8 weights: 99.7 % on PublicTest
