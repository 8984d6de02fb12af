"""The one matplotlib drawing of an emotion mix over time, for files (PNG) rather than pages.

A video's timeline (``fer analyze``, the analyze page) and a lecture's session report are the
same picture: stacked shares of the seven expressions over time, gaps where no face was seen
(an empty room must not read as a calm one), optionally the presence rate below and the
teacher's marked moments as vertical lines. The interactive page charts are plotly
(``ui/charts.py``); this module needs only the model's contract, so every layer can use it.

Every text on the picture (titles and moment labels come from visitors: lecture names,
moment labels) is drawn with ``parse_math=False``: a ``$`` in a name is a dollar sign, not
matplotlib math text that fails to render.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from fer.emotions import COLORS_RGB01, EMOTIONS


def mix_timeline_png(
    times: Sequence[float],
    mixes: Sequence[Sequence[float] | None],
    *,
    title: str,
    xlabel: str = "time (s)",
    presence: Sequence[float | None] | None = None,
    marks: Sequence[tuple[float, str]] = (),
) -> bytes:
    """A PNG of ``mixes[i]`` (the 7 shares at ``times[i]``, or None where no face was seen).

    ``presence`` (same length as ``times``, values in 0..1 or None) adds a presence-rate panel
    below; ``marks`` are ``(time, label)`` pairs drawn as dashed lines on every panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(times, float)
    data = np.full((len(t), len(EMOTIONS)), np.nan)
    for i, mix in enumerate(mixes):
        if mix is not None:
            data[i] = np.asarray(mix, float)
    text = {"parse_math": False}
    if presence is None:
        fig, top = plt.subplots(figsize=(10, 4), dpi=100)
        axes = (top,)
    else:
        fig, axes = plt.subplots(2, 1, figsize=(10, 6), dpi=100, sharex=True, height_ratios=(2, 1))
        top = axes[0]
    try:
        if len(t):
            top.stackplot(t, np.nan_to_num(data.T, nan=0.0), labels=EMOTIONS, colors=COLORS_RGB01, alpha=0.9)
            missing = np.isnan(data[:, 0])
            if missing.any():
                top.fill_between(t, 0, 1, where=missing, color="white", step="mid", label="no face")
            top.set_xlim(t.min(), t.max() if t.max() > t.min() else t.min() + 1)
            if presence is not None:
                rate = np.array([np.nan if v is None else float(v) for v in presence])
                axes[1].plot(t, rate, color="black")
        for ax in axes:
            for when, _ in marks:
                ax.axvline(when, color="crimson", linestyle="--", linewidth=1)
            ax.set_ylim(0, 1.02)
        for when, label in marks:
            top.text(when, 1.0, f" {label}", color="crimson", fontsize=8, va="top", **text)
        top.set_title(title, **text)
        top.set_ylabel("share of expression")
        if len(t):
            top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        if presence is not None:
            axes[1].set_ylabel("presence rate")
        axes[-1].set_xlabel(xlabel)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()
