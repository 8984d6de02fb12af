"""The gate in front of the teacher pages: only the room's teacher key opens them."""

from __future__ import annotations

import streamlit as st

from fer.classroom.rooms import Room, RoomError, TeacherKeyError
from ui.common import query_param, store

_VERIFIED = "teacher_verified"


def teacher_gate() -> Room:
    """The room whose key the visitor holds, or stop the page with the key form.

    The key comes from the dashboard link (``?room=...&key=...``) or from the form. A
    verified pair is remembered in the session, because checking a key costs a deliberate
    50 ms of scrypt and the dashboard refreshes every second; it is also put back into the
    URL so that a reload opens the dashboard again.
    """
    code, key = query_param("room"), query_param("key")
    verified: dict = st.session_state.setdefault(_VERIFIED, {})
    if code and key:
        try:
            if verified.get(code) == key:
                return store().get_room(code)
            room = store().authenticate_teacher(code, key)
        except TeacherKeyError:
            st.error("This teacher key does not open that room. Check the dashboard link or the key you noted.")
        except RoomError as error:
            st.error(str(error))
        else:
            verified[room.code] = key
            if room.code != code:
                st.query_params["room"] = room.code
            return room

    with st.form("teacher_key"):
        st.markdown("Enter the room code and the teacher key you got when you started the class.")
        typed_code = st.text_input("Room code", value=code, max_chars=20)
        typed_key = st.text_input("Teacher key", type="password", max_chars=40)
        if st.form_submit_button("Open", type="primary"):
            st.query_params["room"] = typed_code.strip()
            st.query_params["key"] = typed_key.strip()
            st.rerun()
    st.stop()
