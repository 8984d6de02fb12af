"""The session report: the lecture's timeline, emotion shares, presence and marked moments.

Available during and after a lecture, to the teacher only. The downloads hold aggregated
numbers of the class (CSV, JSON) and the charts (PNG); nothing per student, and no emotion
mix of a time bucket with fewer than ``CLASSMOOD_REPORT_MIN_PRESENT`` present students.
"""

import time

import plotly.graph_objects as go
import streamlit as st

from fer.classroom.aggregate import FACING_DEFINITION, PRESENCE_RATE_DEFINITION
from fer.classroom.report import session_report
from fer.emotions import EMOTIONS
from ui.charts import COLORS, rates_figure, timeline_figure
from ui.common import config, link, plain, sidebar, store
from ui.teacher import teacher_gate

sidebar()
st.title("Session report")
room = teacher_gate()
cfg = config()
report = session_report(store(), room.code, cfg.report_window_s, time.time(), min_present=cfg.report_min_present)

minutes = report.duration_s / 60
state = "ended" if room.closed_at is not None else "still running"
st.markdown(
    f"**{plain(room.lecture)}**, room {room.code}: {minutes:.0f} min, {report.students} student(s) joined, lecture {state}."
)
if room.closed_at is None:
    link("dashboard", "Back to the live dashboard", icon="📊", room=room.code)
if report.hidden:
    st.caption(
        f"The mood of {len(report.hidden)} time bucket(s) is hidden, here and in the downloads: fewer than "
        f"{report.min_present} students were present, and their mix would be those students' own data."
    )

if report.shares is None:
    st.info("No mood to report: no face was seen, or never enough students at once to show a class mood.")
else:
    st.markdown("##### Mood over time")
    st.plotly_chart(timeline_figure(report.windows, report.moments, room.created_at), width="stretch")
    shares, presence = st.columns(2)
    with shares:
        st.markdown("##### Share of each expression over the lecture")
        fig = go.Figure(go.Bar(x=list(EMOTIONS), y=[100 * s for s in report.shares], marker_color=COLORS))
        fig.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="%")
        st.plotly_chart(fig, width="stretch")
    with presence:
        st.markdown("##### Presence and facing the screen over time")
        rows = report.to_rows()
        fig = rates_figure([r["end_s"] / 60 for r in rows], [r["presence_rate"] for r in rows],
                           [r["facing_share"] for r in rows], xlabel="minutes")
        st.plotly_chart(fig, width="stretch")
        st.caption(PRESENCE_RATE_DEFINITION)
        st.caption(FACING_DEFINITION)

st.markdown("##### Marked moments")
if report.moments:
    st.table([{"minute": f"{(m.time - room.created_at) / 60:.1f}", "moment": m.label} for m in report.moments])
else:
    st.caption("No moment was marked.")

st.markdown("##### Downloads")
stem = f"classmood-{room.code}"
csv_col, json_col, png_col = st.columns(3)
csv_col.download_button("Timeline (CSV)", report.to_csv(), f"{stem}.csv", "text/csv")
json_col.download_button("Report (JSON)", report.to_json(), f"{stem}.json", "application/json")
png_col.download_button("Charts (PNG)", report.to_png(), f"{stem}.png", "image/png")
