import json

import numpy as np
import pytest

from fer.emotions import EMOTIONS
from fer.errors import ModelLoadError
from fer.training import evaluate as evaluate_module
from fer.training.data import load_fer2013
from fer.training.evaluate import evaluate, format_table
from fer.vision.classify import load_model

pytestmark = pytest.mark.training


def test_report_figures_agree_with_the_metric_functions(tiny_model_path, fer_fixture):
    split = load_fer2013(fer_fixture["csv"])["PublicTest"]
    report, probs = evaluate(tiny_model_path, split.images, split.labels, "PublicTest", throughput_batch=8)
    assert report.images == len(split)
    assert report.accuracy == pytest.approx(float((probs.argmax(1) == split.labels).mean()))
    assert np.array(report.confusion).sum() == len(split)
    assert set(report.per_class) == set(EMOTIONS)
    assert report.macro_f1 == pytest.approx(np.mean([r["f1"] for r in report.per_class.values()]))
    assert report.throughput_faces_per_s > 0
    assert "macro F1" in format_table(report)


def test_flip_tta_averages_a_face_with_its_mirror(tiny_model_path, fer_fixture):
    split = load_fer2013(fer_fixture["csv"])["PublicTest"]
    model = load_model(tiny_model_path)
    plain = evaluate_module.predict(model, split.images)
    mirrored = evaluate_module.predict(model, split.images[:, :, ::-1].copy())
    np.testing.assert_allclose(evaluate_module.predict(model, split.images, tta_flip=True), (plain + mirrored) / 2, atol=1e-5)


def test_cli_writes_json_and_plots(tiny_model_path, fer_fixture, tmp_path, capsys):
    out = tmp_path / "report"
    code = evaluate_module.main(["--model", str(tiny_model_path), "--data", str(fer_fixture["zip"]),
                                 "--split", "PrivateTest", "--tta", "--out", str(out), "--throughput-batch", "8"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "PrivateTest" and metrics["tta_flip"] is True
    assert (out / "confusion_matrix.png").stat().st_size > 0 and (out / "reliability.png").stat().st_size > 0
    assert "accuracy" in capsys.readouterr().out


def test_missing_model_file_is_a_clear_error(tmp_path, fer_fixture, capsys):
    code = evaluate_module.main(["--model", str(tmp_path / "none.keras"), "--data", str(fer_fixture["csv"])])
    assert code == 2
    assert "none.keras: no such model file" in capsys.readouterr().err


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    path = tmp_path / "corrupt.keras"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelLoadError, match="corrupt.keras: not a readable Keras model"):
        load_model(path)
