"""The file in models/ under the contract every consumer relies on."""

import numpy as np
import pytest

from fer.training.data import load_split
from fer.training.evaluate import predict
from fer.vision.classify import DEFAULT_MODEL_PATH, load_model

# The shipped model scores about 0.71 on PrivateTest; a slice of 700 faces has a standard error
# near 0.017, so 0.64 flags a broken or swapped file without flaking.
ACCURACY_FLOOR = 0.64


@pytest.fixture(scope="module")
def shipped():
    if not DEFAULT_MODEL_PATH.exists():
        pytest.fail(f"{DEFAULT_MODEL_PATH} is missing: the repository must ship the trained model")
    return load_model(DEFAULT_MODEL_PATH)


def test_shipped_model_honours_the_contract(shipped):
    import keras

    reloaded = keras.models.load_model(DEFAULT_MODEL_PATH, compile=False)  # the contract, literally
    assert tuple(reloaded.input_shape) == (None, 48, 48, 1) and tuple(reloaded.output_shape) == (None, 7)
    x = np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 1)).astype(np.float32)
    probs = np.asarray(shipped.predict(x))
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_shipped_model_scores_above_the_floor_on_a_private_test_slice(shipped, dataset_path):
    split = load_split(dataset_path, "PrivateTest")
    pick = np.random.default_rng(7).permutation(len(split))[:700]
    probs = predict(shipped, split.images[pick])
    assert float((probs.argmax(1) == split.labels[pick]).mean()) > ACCURACY_FLOOR
