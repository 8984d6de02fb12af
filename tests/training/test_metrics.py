import numpy as np
import pytest

from fer.training.metrics import (
    accuracy,
    apply_temperature,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    normalize_rows,
    precision_recall_f1,
    top_k_accuracy,
)

PROBS = np.array([
    [0.7, 0.2, 0.1],   # true 0, predicted 0
    [0.1, 0.6, 0.3],   # true 2, predicted 1, second choice 2
    [0.2, 0.3, 0.5],   # true 2, predicted 2
    [0.5, 0.4, 0.1],   # true 1, predicted 0, second choice 1
])
LABELS = np.array([0, 2, 2, 1])


def test_accuracy_and_top2_by_hand():
    assert accuracy(PROBS, LABELS) == pytest.approx(0.5)
    assert top_k_accuracy(PROBS, LABELS, 2) == pytest.approx(1.0)
    assert top_k_accuracy(PROBS, LABELS, 1) == pytest.approx(0.5)


def test_confusion_matrix_counts_true_rows_predicted_columns():
    matrix = confusion_matrix(LABELS, PROBS.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [1, 0, 0], [0, 1, 1]])
    np.testing.assert_allclose(normalize_rows(matrix), [[1, 0, 0], [1, 0, 0], [0, 0.5, 0.5]])


def test_precision_recall_f1_by_hand():
    precision, recall, f1, support = precision_recall_f1(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1]]))
    np.testing.assert_allclose(precision, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(recall, [1.0, 0.0, 0.5])
    np.testing.assert_allclose(f1, [2 / 3, 0.0, 2 / 3])
    np.testing.assert_array_equal(support, [1, 1, 2])


def test_ece_by_hand():
    # Bins of width 0.1 (10 bins): confidences 0.7 (right), 0.6 (wrong), 0.5 (right), 0.5 (wrong).
    # bin 0.7: |1-0.7|=0.3 (1 row); bin 0.6: |0-0.6|=0.6 (1 row); bin 0.5: |0.5-0.5|=0 (2 rows).
    assert expected_calibration_error(PROBS, LABELS, bins=10) == pytest.approx((0.3 + 0.6 + 0) / 4)


def test_perfectly_calibrated_predictions_have_zero_ece():
    probs = np.array([[1.0, 0.0]] * 4)
    assert expected_calibration_error(probs, np.zeros(4, int)) == pytest.approx(0.0)


def test_temperature_one_changes_nothing_and_high_temperature_flattens():
    np.testing.assert_allclose(apply_temperature(PROBS, 1.0), PROBS, atol=1e-9)
    flat = apply_temperature(PROBS, 100.0)
    assert np.all(flat.max(1) < PROBS.max(1)) and np.allclose(flat.sum(1), 1)


def test_fit_temperature_recovers_the_temperature_that_made_overconfident_scores():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 7)) * 2
    calibrated = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in calibrated])
    overconfident = apply_temperature(calibrated, 1 / 2.5)  # logits multiplied by 2.5
    fitted = fit_temperature(overconfident, labels)
    assert fitted == pytest.approx(2.5, rel=0.1)
    assert negative_log_likelihood(apply_temperature(overconfident, fitted), labels) < negative_log_likelihood(overconfident, labels)
