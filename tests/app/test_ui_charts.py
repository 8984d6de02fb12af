"""ui.charts: the figures and the trend strip carry the numbers they are given, and pandas is
whole before any chart is drawn."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fer.emotions import EMOTIONS
from ui.charts import COLORS, FigureCache, trend_html


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


class Builds:
    """A build function that counts its calls and returns a new dict each time."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"built": self.calls}


def test_the_figure_cache_hands_out_the_same_figures_until_they_are_due():
    cache, build = FigureCache(every=5.0), Builds()
    assert cache.get(100.0, build) == {"built": 1}
    for now in (101.0, 102.0, 103.0, 104.0, 104.7):
        assert cache.get(now, build) == {"built": 1}
    assert cache.get(104.8, build) == {"built": 2}  # a tick a little early is still due: every 5 s, not 6
    assert cache.get(105.8, build) == {"built": 2}
    assert build.calls == 2


def test_the_figure_cache_rebuilds_after_a_clear_or_when_the_clock_goes_back():
    cache, build = FigureCache(every=5.0), Builds()
    cache.get(100.0, build)
    cache.clear()
    assert cache.get(100.5, build) == {"built": 2}
    assert cache.get(99.0, build) == {"built": 3}


def test_a_cache_of_one_second_rebuilds_at_every_tick_of_a_one_second_fragment():
    cache, build = FigureCache(every=1.0), Builds()
    for i, now in enumerate((100.0, 100.98, 102.01, 103.0)):
        assert cache.get(now, build) == {"built": i + 1}
