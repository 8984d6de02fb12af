"""ui.charts: the figures and the trend strip carry the numbers they are given, and pandas is
whole before any chart is drawn."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fer.emotions import EMOTIONS
from ui.charts import COLORS, trend_html


def test_the_trend_strip_has_one_cell_per_sample_in_the_emotions_colour():
    trend = ["happy", "happy", None, "sad"]
    strip = trend_html(trend)
    cells = re.findall(r'<span title="([^"]+)" style="[^"]*background:([^"]+)"', strip)
    assert [title for title, _ in cells] == ["happy", "happy", "no face", "sad"]
    assert cells[0][1] == COLORS[EMOTIONS.index("happy")]
    assert cells[3][1] == COLORS[EMOTIONS.index("sad")]
    assert cells[2][1] == "#dddddd"


def test_an_empty_trend_says_so():
    assert "no samples yet" in trend_html([])


def test_pandas_is_imported_whole_by_the_module_every_page_imports_first():
    """plotly reads pandas from sys.modules without importing it: it must be whole before any
    session's thread draws (ui/common.py)."""
    check = "import sys, ui.common; pd = sys.modules['pandas']; assert hasattr(pd, 'Series') and hasattr(pd, 'Index')"
    subprocess.run([sys.executable, "-c", check], cwd=Path(__file__).resolve().parents[2], check=True, timeout=300)
