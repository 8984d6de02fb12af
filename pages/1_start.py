"""Start a class: the teacher names the lecture and gets a room code and a teacher key.

The room code is for students (read aloud or shared as a link); the teacher key opens the
dashboard and is shown only here, once, in the run that created the room: the store keeps
only its hash, and no link or URL ever carries it. The teacher who opened the room is signed
in at once (:mod:`ui.teacher`), so the dashboard link needs no key.
"""

import streamlit as st

from fer.classroom.ratelimit import CREATE, RateLimitedError
from fer.classroom.rooms import RoomError
from ui.common import ai_act_note, client, config, limiter, link, page_url, plain, sidebar, store
from ui.teacher import keep_signed_in, sign_in

sidebar()
st.title("Start a class")
st.write(
    "Name your lecture to open a room. Students join with the room code and see exactly what is "
    "analyzed before their camera starts. You get a teacher key that opens the live dashboard."
)
ai_act_note()
st.caption(
    f"A lecture's data (names and numbers, never images) is kept for {config().retention_days:g} days, then erased; "
    "you can delete it sooner from the dashboard."
)

with st.form("start"):
    lecture = st.text_input("Lecture name", max_chars=120, placeholder="e.g. Linear algebra, week 3")
    submitted = st.form_submit_button("Open the room", type="primary")

key = None
if submitted:
    try:
        limiter().attempt(CREATE, client())
        code, key = store().create_room(lecture)
    except (RateLimitedError, RoomError) as error:
        st.error(plain(str(error)))
    else:
        sign_in(code)
        st.session_state["started_room"] = {"code": code, "lecture": store().get_room(code).lecture}

started = st.session_state.get("started_room")
if started:
    code = started["code"]
    keep_signed_in()
    st.success(f"Room open for **{plain(started['lecture'])}**.")
    students, teacher = st.columns(2)
    with students:
        st.markdown("#### For your students")
        st.markdown("Room code (read it aloud):")
        st.code(code, language=None)
        st.markdown("Join link:")
        st.code(page_url("join", room=code), language=None)
    with teacher:
        st.markdown("#### For you only")
        if key is not None:
            st.markdown(
                "Teacher key, **shown only now**: note it somewhere safe. It opens the dashboard from any "
                "browser; only its hash is kept, so it cannot be shown again (you can make a new one on the dashboard)."
            )
            st.code(key, language=None)
        else:
            st.markdown("The teacher key was shown once, when the room opened. You are signed in on this browser.")
        link("dashboard", "Open the dashboard", icon="📊", room=code)
