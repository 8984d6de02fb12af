"""ui.charts: the figures and the trend strip carry the numbers they are given."""

from __future__ import annotations

import re

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
