"""Start a class: the teacher names the lecture and gets a room code and a teacher key.

The room code is for students (read aloud or shared as a link); the teacher key opens the
dashboard and is shown only here, once: the store keeps only its hash.
"""

import streamlit as st

from fer.classroom.rooms import RoomError
from ui.common import link, page_url, sidebar, store

sidebar()
st.title("Start a class")
st.write(
    "Name your lecture to open a room. Students join with the room code and see exactly what is "
    "analyzed before their camera starts. You get a teacher key that opens the live dashboard."
)

with st.form("start"):
    lecture = st.text_input("Lecture name", max_chars=120, placeholder="e.g. Linear algebra, week 3")
    submitted = st.form_submit_button("Open the room", type="primary")

if submitted:
    try:
        code, key = store().create_room(lecture)
    except RoomError as error:
        st.error(str(error))
    else:
        st.session_state["started_room"] = {"code": code, "key": key, "lecture": lecture.strip()}

started = st.session_state.get("started_room")
if started:
    code, key = started["code"], started["key"]
    st.success(f"Room open for **{started['lecture']}**.")
    students, teacher = st.columns(2)
    with students:
        st.markdown("#### For your students")
        st.markdown("Room code (read it aloud):")
        st.code(code, language=None)
        st.markdown("Join link:")
        st.code(page_url("join", room=code), language=None)
    with teacher:
        st.markdown("#### For you only")
        st.markdown("Teacher key, **shown only now**: copy it. It cannot be recovered, only its hash is kept.")
        st.code(key, language=None)
        st.markdown("Dashboard link (contains the key; do not share it):")
        st.code(page_url("dashboard", room=code, key=key), language=None)
        link("dashboard", "Open the dashboard", icon="📊", room=code, key=key)
