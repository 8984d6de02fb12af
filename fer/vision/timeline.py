"""The emotion mix of a video over time, as a stacked-area PNG (matplotlib, Agg backend).

Each analyzed frame contributes the mean smoothed probabilities of its faces; frames with
no face are gaps, not zeros, so an empty room does not read as a calm one.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from fer.emotions import COLORS_RGB01, EMOTIONS


def plot_timeline(times: Sequence[float], mixes: Sequence[np.ndarray | None], path: str | os.PathLike, title: str = "") -> None:
    """``mixes[i]`` is the (7,) mean probabilities at ``times[i]`` seconds, or None (no face)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(times, float)
    data = np.full((len(t), len(EMOTIONS)), np.nan)
    for i, mix in enumerate(mixes):
        if mix is not None:
            data[i] = mix
    colors = COLORS_RGB01
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        if len(t):
            ax.stackplot(t, np.nan_to_num(data.T, nan=0.0), labels=EMOTIONS, colors=colors, alpha=0.9)
            missing = np.isnan(data[:, 0])
            if missing.any():
                ax.fill_between(t, 0, 1, where=missing, color="white", step="mid", label="no face")
            ax.set_xlim(t.min(), t.max() if t.max() > t.min() else t.min() + 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("share of emotion")
        ax.set_title(title or "emotion mix over time")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
