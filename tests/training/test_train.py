import json

import numpy as np
import pytest

from fer.training import train as train_module
from fer.training.train import TrainConfig, class_weight_vector, learning_rate_at

pytestmark = pytest.mark.training


def test_learning_rate_warms_up_then_decays_to_the_floor():
    config = TrainConfig(epochs=10, learning_rate=1e-3, warmup_epochs=2, min_lr_fraction=0.01)
    assert learning_rate_at(config, 1.0) == pytest.approx(5e-4)
    assert learning_rate_at(config, 2.0) == pytest.approx(1e-3)
    assert learning_rate_at(config, 6.0) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert learning_rate_at(config, 10.0) == pytest.approx(1e-5)
    rates = [learning_rate_at(config, e / 4) for e in range(8, 41)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_class_weights_favour_rare_classes_and_keep_the_mean_loss_scale():
    labels = np.array([0] * 90 + [1] * 10)
    for mode in ("balanced", "sqrt"):
        weights = class_weight_vector(labels, mode)
        assert weights[1] > weights[0]
        assert weights[labels].mean() == pytest.approx(1.0)
    np.testing.assert_allclose(class_weight_vector(labels, "none")[:2], [1, 1])
    with pytest.raises(ValueError, match="expected none, balanced or sqrt"):
        class_weight_vector(labels, "inverse")


def _small(tmp_path, data, epochs):
    return [
        "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", str(epochs),
        "--batch-size", "16", "--widths", "8,16", "--convs-per-stage", "1", "--quiet",
    ]


def test_training_checkpoints_each_epoch_and_resume_continues(fer_fixture, tmp_path):
    import keras

    assert train_module.main(_small(tmp_path, fer_fixture["csv"], 1)) == 0
    run = tmp_path / "run"
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    for name in ("checkpoint.keras", "best.keras", "emotion_cnn.keras", "history.csv", "curves.png", "calibration.json"):
        assert (run / name).exists(), name
    first_epoch = state["history"][0]

    assert train_module.main(_small(tmp_path, fer_fixture["csv"], 3) + ["--resume"]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 3 and [h["epoch"] for h in state["history"]] == [1, 2, 3]
    assert state["history"][0] == first_epoch  # resumed, not restarted
    model = keras.models.load_model(run / "emotion_cnn.keras", compile=False)
    assert model.count_params() < 5_000  # the --widths given at the start survived the resume
    probs = model.predict(np.zeros((2, 48, 48, 1), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, fer_fixture, capsys):
    assert train_module.main(_small(tmp_path, fer_fixture["csv"], 1) + ["--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_training_on_a_missing_data_set_is_a_clear_error(tmp_path, capsys):
    assert train_module.main(_small(tmp_path, tmp_path / "absent.zip", 1)) == 2
    assert "absent.zip: no such file" in capsys.readouterr().err


def test_distillation_targets_mix_teacher_probabilities_with_the_label():
    from fer.training.train import distill_targets

    logits = np.array([[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    onehot = np.eye(7, dtype=np.float32)[[3, 6]]
    targets = distill_targets(logits, onehot, alpha=0.9, temperature=1.0)
    np.testing.assert_allclose(targets.sum(1), 1, atol=1e-6)
    assert targets[0].argmax() == 0  # the teacher outweighs the label at alpha 0.9
    np.testing.assert_allclose(targets[1], 0.9 / 7 + 0.1 * onehot[1], atol=1e-6)
    np.testing.assert_allclose(distill_targets(logits, onehot, alpha=0.0, temperature=1.0), onehot)
    sharp = distill_targets(logits, onehot, 1.0, 1.0)[0, 0]
    assert distill_targets(logits, onehot, 1.0, 2.0)[0, 0] < sharp  # a higher temperature softens


def test_epoch_augmentation_is_the_same_with_or_without_worker_processes():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from fer.training.augment import augment_epoch

    images = np.random.default_rng(0).integers(0, 255, (40, 48, 48), dtype=np.uint8)
    alone = augment_epoch(images, seed=5, epoch=3)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = augment_epoch(images, seed=5, epoch=3, pool=pool)
    np.testing.assert_array_equal(alone, parallel)
    assert not np.array_equal(alone, augment_epoch(images, seed=5, epoch=4))


def test_a_student_distils_from_a_teacher_and_stop_after_keeps_the_long_schedule(fer_fixture, tmp_path):
    assert train_module.main(_small(tmp_path, fer_fixture["csv"], 1)) == 0
    teacher = tmp_path / "run" / "best.keras"
    args = ["--data", str(fer_fixture["csv"]), "--out", str(tmp_path / "student"), "--epochs", "4",
            "--stop-after", "2", "--batch-size", "16", "--widths", "8,16", "--convs-per-stage", "1",
            "--teachers", str(teacher), "--teacher-mirror", "--distill-alpha", "0.8", "--aug-workers", "1", "--quiet"]
    assert train_module.main(args) == 0
    state = json.loads((tmp_path / "student" / "state.json").read_text())
    assert state["epoch"] == 2 and state["config"]["epochs"] == 4
    assert state["config"]["teachers"] == [str(teacher)] and state["config"]["teacher_mirror"] is True
    config = TrainConfig(epochs=4)
    assert state["history"][1]["lr"] == pytest.approx(learning_rate_at(config, 2 - 1e-9))
