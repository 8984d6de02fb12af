"""The teacher's live dashboard: the class mood now and over time, presence, tiles, alerts.

Only a teacher signed in with the room's key gets past the gate (:mod:`ui.teacher`; the
key is never in a URL). Everything shown is read from the store every second inside a
fragment, so a reload (or a second teacher tab) loses nothing and the rest of the page does
not flicker; the charts are rebuilt every ``chart_refresh_s`` (:class:`ui.charts.FigureCache`).
Below the live part the teacher manages the room: remove a student, lock the room, end the
lecture, make a new key, delete the lecture's data, sign out. Names are visitors' text and are
shown through :func:`ui.common.plain`, never as markdown.
"""

import time
from datetime import datetime

import streamlit as st

from fer.classroom.aggregate import FACING_DEFINITION, PRESENCE_RATE_DEFINITION, Presence
from fer.classroom.dashboard import dashboard_view
from fer.classroom.rooms import RoomError
from ui.charts import FigureCache, distribution_figure, rates_figure, timeline_figure, trend_html
from ui.common import config, link, plain, sidebar, storage_notice, store
from ui.teacher import rotate_key, sign_out, still_signed_in, teacher_gate

sidebar()
st.title("Teacher dashboard")
room = teacher_gate()
cfg = config()

st.caption(
    f"**{plain(room.lecture)}**, room **{room.code}**. Expressions are estimates, wrong about 3 times in 10; "
    "they say nothing about learning or attention. Use them to adjust the lecture, never to judge a student."
)
STATE = f"dashboard:{room.code}"
if STATE in st.session_state:
    st.session_state[STATE]["charts"].clear()  # a whole-page run (a press, a reload) draws the charts afresh


def build_figures(view) -> dict:
    """The three charts of ``view``, None where there is nothing to draw yet."""
    x = [datetime.fromtimestamp((w.start + w.end) / 2) for w in view.windows]
    return {
        "now": None if view.snapshot.distribution is None else distribution_figure(view.snapshot),
        "time": (timeline_figure(view.windows, view.moments, room.created_at)
                 if any(w.shares is not None for w in view.windows) else None),
        "rates": (rates_figure(x, [w.presence_rate for w in view.windows], [w.facing_share for w in view.windows])
                  if any(w.presence_rate is not None for w in view.windows) else None),
    }


@st.fragment(run_every=1)
def live() -> None:
    """The live part, re-run every second on its own."""
    if not still_signed_in():
        st.rerun()  # the whole page: the gate asks for the key again
    state = st.session_state.setdefault(
        STATE, {"history": None, "active": set(), "charts": FigureCache(every=cfg.chart_refresh_s)}
    )
    now = time.time()
    try:
        view, state["history"] = dashboard_view(store(), room.code, cfg, now, state["history"], state["active"])
    except RoomError as error:
        st.error(str(error))
        return
    state["active"] = view.active_alerts
    storage_notice()
    snap = view.snapshot
    if view.room.closed_at is not None:
        st.info("This lecture has ended; the numbers below are frozen at its end.")

    for alert in view.alerts:
        st.warning(alert.message, icon="⚠️")

    joined, present, absent, score, facing = st.columns(5)
    joined.metric("Students joined", snap.joined)
    present.metric("Present", snap.present)
    absent.metric("Absent", snap.absent)
    score.metric(
        "Engagement score",
        "–" if snap.presence_rate is None else f"{snap.presence_rate:.0%}",
        help="The presence rate, defined below the numbers: a face in front of the camera, nothing more.",
    )
    facing.metric(
        "Facing the screen",
        "–" if snap.facing_share is None else f"{snap.facing_share:.0%}",
        help="Share of the present students whose head is turned to the screen, defined below: facing is not attention.",
    )
    st.caption(PRESENCE_RATE_DEFINITION)
    st.caption(FACING_DEFINITION)

    figures = state["charts"].get(now, lambda: build_figures(view))
    now_col, time_col = st.columns([2, 3])
    with now_col:
        st.markdown("##### Class mood now")
        if figures["now"] is None:
            st.info("Nobody is present yet: no face has been seen in the last few seconds.")
        else:
            st.plotly_chart(figures["now"], width="stretch", key="mood_now")
    with time_col:
        st.markdown("##### Mood over time")
        if figures["time"] is None:
            st.info("The chart starts when the first face is seen.")
        else:
            st.plotly_chart(figures["time"], width="stretch", key="mood_time")
        if figures["rates"] is not None:
            st.markdown("##### Presence and facing the screen over time")
            st.plotly_chart(figures["rates"], width="stretch", key="rates_time")
    st.caption(f"The charts are redrawn every {cfg.chart_refresh_s:g} s; the numbers and the students every second.")

    st.markdown("##### Students")
    if not view.tiles:
        st.info(f"No student has joined yet. Give them the room code **{room.code}**.")
    columns = st.columns(4)
    for i, tile in enumerate(view.tiles):
        with columns[i % 4].container(border=True):
            st.markdown(f"**{plain(tile.name)}**")
            if tile.presence is Presence.PRESENT:
                facing = {True: " · facing", False: " · turned away", None: ""}[tile.facing]
                st.markdown(f"🟢 present{facing} · {tile.expression} ({tile.confidence:.0%})")
            elif tile.presence is Presence.NO_FACE:
                st.markdown("🟠 absent · camera on, no face seen")
            elif tile.presence is Presence.LOST:
                st.markdown("🔴 absent · connection lost, reconnecting")
            elif tile.presence is Presence.AWAY:
                st.markdown("⚪ absent · no video")
            else:
                st.markdown("⚫ left the room")
            st.markdown(trend_html(tile.trend), unsafe_allow_html=True)


live()

st.divider()
mark, end = st.columns(2)
with mark:
    with st.form("moment", clear_on_submit=True):
        label = st.text_input("Mark a moment", placeholder="e.g. quiz starts", max_chars=80)
        if st.form_submit_button("Mark it now"):
            try:
                store().add_moment(room.code, label)
                st.toast(f"Marked: {plain(label)}")
            except RoomError as error:
                st.error(plain(str(error)))
with end:
    st.markdown("**End the lecture**: every student's camera stream stops and nobody can join any more.")
    if room.closed_at is None:
        if st.button("End the lecture", type="primary"):
            store().close_room(room.code)
            st.rerun()
    link("report", "Open the session report", icon="🧾", room=room.code)

new_key = st.session_state.pop("new_teacher_key", None)
if new_key:
    st.success("New teacher key, **shown only now**: note it. The old key and every other signed-in tab no longer work.")
    st.code(new_key, language=None)

with st.expander("Manage the room: students, lock, key, data"):
    if room.is_open:
        active = store().students(room.code, include_left=False)
        if active:
            picked = st.selectbox("Student", active, format_func=lambda s: s.name, key="remove_pick")
            if st.button("Remove from the room", help="Their camera stream stops and their browser cannot resume."):
                store().remove_student(picked.id)
                st.toast(f"Removed {plain(picked.name)}")
                st.rerun()
        if room.locked:
            st.markdown("🔒 The room is **locked**: nobody new can join.")
            if st.button("Unlock the room"):
                store().set_locked(room.code, False)
                st.rerun()
        elif st.button("Lock the room", help="Students already in the room stay; nobody new can join."):
            store().set_locked(room.code, True)
            st.rerun()
    if st.button("Make a new teacher key", help="Use it if the key may have been seen; the old one stops working."):
        st.session_state["new_teacher_key"] = rotate_key(room.code)
        st.rerun()
    retention = cfg.retention_days
    st.markdown(
        f"This lecture's names and numbers are erased automatically {retention:g} days after it started. "
        "You can erase them now: the dashboard and the report of this lecture are then gone for good."
    )
    sure = st.checkbox("I understand that deleting cannot be undone", key="delete_sure")
    if st.button("Delete this lecture's data", disabled=not sure):
        store().close_room(room.code)
        store().delete_room(room.code)
        sign_out()
        st.success("The lecture's data is deleted. Nothing of it is kept.")
        st.stop()
    if st.button("Sign out"):
        sign_out()
        st.info("Signed out. The teacher key opens the dashboard again.")
        st.stop()
