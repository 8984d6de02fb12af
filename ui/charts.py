"""Plotly figures of the aggregated numbers; no Streamlit here, so they are easy to test.

Colours follow ``fer.vision.annotate.COLORS_BGR`` so an emotion has one colour everywhere: the
student's video overlay, the live charts and the PNG report.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Sequence

import plotly.graph_objects as go

from fer.classroom.aggregate import ClassSnapshot, MoodWindow
from fer.classroom.samples import Moment
from fer.emotions import COLORS_BGR, EMOTIONS

COLORS = [f"rgb({r},{g},{b})" for b, g, r in COLORS_BGR]


def distribution_figure(snapshot: ClassSnapshot) -> go.Figure:
    """Bars of the mean probability of each expression over the students present."""
    shares = snapshot.distribution or (0.0,) * len(EMOTIONS)
    fig = go.Figure(
        go.Bar(
            x=list(EMOTIONS),
            y=[100 * s for s in shares],
            marker_color=COLORS,
            text=[f"{100 * s:.0f} %" for s in shares],
            textposition="outside",
            customdata=list(snapshot.label_counts),
            hovertemplate="%{x}: %{y:.0f} %, most likely for %{customdata} student(s)<extra></extra>",
        )
    )
    fig.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(title="% of present students' mood", range=[0, 105]),
        showlegend=False,
    )
    return fig


def timeline_figure(windows: Sequence[MoodWindow], moments: Sequence[Moment], start: float) -> go.Figure:
    """Stacked areas of the class mood per time bucket, marked moments as vertical lines.

    Buckets without any face are left as gaps (not zeros), so an empty room does not look calm.
    """
    x = [datetime.fromtimestamp((w.start + w.end) / 2) for w in windows]
    fig = go.Figure()
    for i, name in enumerate(EMOTIONS):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[None if w.shares is None else 100 * w.shares[i] for w in windows],
                name=name,
                mode="lines",
                stackgroup="mood",
                line=dict(width=0.5, color=COLORS[i]),
                connectgaps=False,
            )
        )
    for m in moments:
        t = datetime.fromtimestamp(m.time)
        fig.add_shape(type="line", x0=t, x1=t, y0=0, y1=1, yref="paper", line=dict(color="crimson", dash="dash"))
        fig.add_annotation(x=t, y=1, yref="paper", text=html.escape(m.label), showarrow=False, yanchor="bottom", font=dict(color="crimson"))
    fig.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=20, b=10),
        yaxis=dict(title="% of class mood", range=[0, 100]),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def rates_figure(x: Sequence, presence: Sequence[float | None], facing: Sequence[float | None], xlabel: str = "") -> go.Figure:
    """Presence rate and the share of present students facing the screen, per time bucket, in
    % (gaps where a bucket has no value: nobody present, or no head pose)."""
    fig = go.Figure()
    for name, values, colour in (("present", presence, "rgb(40,120,200)"), ("facing the screen", facing, "rgb(230,140,20)")):
        fig.add_trace(go.Scatter(x=list(x), y=[None if v is None else 100 * v for v in values], name=name,
                                 mode="lines+markers", line=dict(color=colour), connectgaps=False))
    fig.update_layout(
        height=280,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title=xlabel,
        yaxis=dict(title="%", range=[0, 105]),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


@dataclass
class FigureCache:
    """Figures kept for ``every`` seconds and handed out again in between.

    The dashboard's numbers and tiles refresh every second; building its plotly figures is
    most of a refresh's server CPU (plotly validates every property as a figure is built), and
    a chart of 5-second buckets gains little from a redraw a second. So the page's one live
    fragment rebuilds the figures only when they are ``every`` seconds old and re-sends the
    same figure objects in between. One fragment rather than a slower second fragment for the
    charts: with two self-refreshing fragments, a signed-out tab's whole-page rerun issued
    from one of them left the page blank in CI runs. A run a little early (fragment ticks
    jitter) still counts as due, so a 5-s cache is rebuilt every 5 s rather than every 6.
    """

    every: float
    built_at: float | None = None
    figures: dict = field(default_factory=dict)

    def get(self, now: float, build: Callable[[], dict]) -> dict:
        """The cached figures, rebuilt with ``build()`` when they are due (or the clock went back)."""
        age = None if self.built_at is None else now - self.built_at
        if age is None or not 0 <= age < self.every - 0.25:
            self.figures = build()
            self.built_at = now
        return self.figures

    def clear(self) -> None:
        """Rebuild on the next ``get``: a whole-page run (a press, a reload) draws afresh."""
        self.built_at = None


def trend_html(trend: Sequence[str | None]) -> str:
    """A student's recent expressions as a strip of coloured cells, oldest first.

    Colours rather than letters: a teacher glances at thirty tiles and should see "mostly
    the happy colour" without reading; each cell's tooltip names the expression. Cells of
    samples without a face are light grey.
    """
    if not trend:
        return '<span style="color:#888;font-size:0.85em">no samples yet</span>'
    cells = []
    for label in trend:
        colour = COLORS[EMOTIONS.index(label)] if label in EMOTIONS else "#dddddd"
        name = html.escape(label or "no face")
        cells.append(
            f'<span title="{name}" style="display:inline-block;width:7px;height:14px;'
            f'margin-right:1px;border-radius:1px;background:{colour}"></span>'
        )
    return ('<div role="img" aria-label="recent expressions, oldest first" style="line-height:14px">'
            + "".join(cells) + "</div>")
