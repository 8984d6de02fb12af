"""The ensemble builder: mirror exactness, logit averaging, and the serving contract kept."""

import subprocess
import sys

import numpy as np
import pytest

from fer.emotions import NUM_CLASSES
from fer.training.ensemble import build_ensemble, combined_logits, compare, mirror_layer
from fer.training.model import ModelSpec, build_model

pytestmark = pytest.mark.training

SMALL = ModelSpec(widths=(8, 16), convs_per_stage=1)


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 48, 48, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def members():
    import keras

    keras.utils.set_random_seed(3)
    return [build_model(SMALL, name="a"), build_model(SMALL, name="b")]


def _logits(model, x):
    import keras

    head = keras.Model(model.inputs, model.get_layer("logits").output)
    return np.asarray(head.predict(x, verbose=0))


def test_mirror_layer_reverses_the_width_axis_exactly():
    x = _faces(3)[..., 0]
    flipped = np.asarray(mirror_layer()(x))
    np.testing.assert_array_equal(flipped, x[:, :, ::-1])


def test_ensemble_averages_member_logits_over_both_mirror_views(members):
    x = _faces(6, seed=1)
    model = build_ensemble(members, mirror=True, temperature=1.5)
    expected = np.mean([_logits(m, v) for m in members for v in (x, x[:, :, ::-1])], axis=0) / 1.5
    expected = np.exp(expected - expected.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


def test_a_mirrored_ensemble_gives_a_face_and_its_mirror_the_same_probabilities(members):
    x = _faces(4, seed=2)
    model = build_ensemble(members, mirror=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0), atol=1e-5)


def test_saved_ensemble_keeps_the_serving_contract_in_safe_mode(members, tmp_path):
    import keras

    path = tmp_path / "ensemble.keras"
    model = build_ensemble(members, mirror=True, temperature=1.2)
    model.save(path)
    again = keras.models.load_model(path, compile=False, safe_mode=True)
    assert tuple(again.input_shape) == (None, 48, 48, 1)
    assert tuple(again.output_shape) == (None, NUM_CLASSES)
    x = _faces(5, seed=3)
    probs = again.predict(x, verbose=0)
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_served_ensemble_matches_keras_through_the_compiled_path(members, tmp_path):
    from fer.vision.classify import load_model

    path = tmp_path / "served.keras"
    model = build_ensemble(members, mirror=True)
    model.save(path)
    x = _faces(7, seed=4)
    served = load_model(path)
    np.testing.assert_allclose(np.asarray(served.predict(x)), model.predict(x, verbose=0), atol=1e-5)


def test_compare_scores_every_member_subset_with_and_without_mirror():
    labels = np.array([0, 1, 2])
    # Member 0 is right on faces 0 and 1 only when mirrored views are averaged in.
    logits = np.zeros((2, 2, 3, NUM_CLASSES), np.float32)
    logits[0, 0, [0, 1, 2], [3, 3, 2]] = 1.0
    logits[0, 1, [0, 1, 2], [0, 1, 2]] = 3.0
    logits[1, :, [0, 1, 2], [0, 5, 5]] = 1.0
    choices = {(c.members, c.mirror): c for c in compare(logits, labels)}
    assert len(choices) == 6
    assert choices[((0,), False)].public_test_accuracy == pytest.approx(1 / 3)
    assert choices[((0,), True)].public_test_accuracy == pytest.approx(1.0)
    assert choices[((1,), True)].public_test_accuracy == pytest.approx(1 / 3)
    assert choices[((0, 1), True)].forward_passes == 4
    np.testing.assert_allclose(combined_logits(logits, (0, 1), False), logits[:, 0].mean(0))


def test_cli_writes_a_calibrated_ensemble_and_reports_publictest(members, fer_fixture, tmp_path):
    paths = []
    for i, member in enumerate(members):
        paths.append(tmp_path / f"m{i}" / "best.keras")
        paths[-1].parent.mkdir()
        member.save(paths[-1])
    out = tmp_path / "ens" / "emotion_cnn.keras"
    done = subprocess.run(
        [sys.executable, "-m", "fer.training.ensemble", *map(str, paths), "--mirror", "--compare",
         "--data", str(fer_fixture["zip"]), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "m0+m1" in done.stdout and "PublicTest" in done.stdout
    assert out.is_file() and (out.parent / "ensemble.json").is_file()


def test_cli_names_a_missing_member_file(tmp_path, fer_fixture):
    done = subprocess.run(
        [sys.executable, "-m", "fer.training.ensemble", str(tmp_path / "nope.keras"), "--data", str(fer_fixture["zip"])],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "nope.keras" in done.stderr and "Traceback" not in done.stderr
