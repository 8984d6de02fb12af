import numpy as np
import pytest

from fer.emotions import NUM_CLASSES
from fer.training.metrics import apply_temperature
from fer.training.model import ModelSpec, build_model

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def model():
    return build_model()


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 48, 48, 1)).astype(np.float32)


def test_output_is_a_probability_row_per_face(model):
    probs = np.asarray(model.predict(_faces(5), verbose=0))
    assert probs.shape == (5, NUM_CLASSES) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_input_contract_is_48x48_gray_in_0_255(model):
    assert tuple(model.input_shape) == (None, 48, 48, 1)
    assert tuple(model.output_shape) == (None, NUM_CLASSES)
    # Scaling is inside the model: the first layer maps 0..255 to -1..1.
    scale = model.get_layer("scale")
    assert float(scale.scale) * 255 + float(scale.offset) == pytest.approx(1.0)


def test_saved_file_reloads_without_custom_objects_and_predicts_the_same(model, tmp_path):
    import keras

    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path, compile=False)
    x = _faces(4, seed=1)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_temperature_layer_matches_temperature_scaling_of_probabilities(model):
    hot = build_model(temperature=2.0)
    hot.set_weights(model.get_weights())
    x = _faces(3, seed=2)
    expected = apply_temperature(model.predict(x, verbose=0), 2.0)
    np.testing.assert_allclose(hot.predict(x, verbose=0), expected, atol=1e-4)


def test_model_stays_small_enough_for_cpu_serving():
    assert build_model().count_params() < 3_000_000
    assert build_model(ModelSpec(widths=(8, 16), convs_per_stage=1)).count_params() < 5_000
