"""Plotly figures of the aggregated numbers; no Streamlit here, so they are easy to test.

Colours follow ``fer.vision.annotate.COLORS_BGR`` so an emotion has one colour everywhere: the
student's video overlay, the live charts and the PNG report.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Sequence

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
