"""The gate in front of the teacher pages: the room's teacher key, checked once.

The key is typed into a form, never carried by a URL or a link: teachers share their
screen, and an address bar, browser history and proxy logs keep what a URL holds. A key
that opens the room buys a random session token (:meth:`Store.open_teacher_session`): the
store keeps its hash for ``CLASSMOOD_TEACHER_SESSION_H`` hours, this Streamlit session
keeps the token, and so does a ``SameSite=Strict`` cookie, which is what lets a reload (a
new Streamlit session) open the dashboard again. A new key (:func:`rotate_key`) or signing
out ends the session; wrong keys are rate-limited per client and per room.
"""

from __future__ import annotations

import streamlit as st

from fer.classroom.ratelimit import LOGIN, RateLimitedError
from fer.classroom.rooms import Room, RoomError, TeacherKeyError, normalize_room_code
from ui.common import client, config, cookie, limiter, plain, query_param, set_cookie, store

SESSION_COOKIE = "classmood_teacher"
_TOKEN = "teacher_token"


def _ttl_s() -> float:
    return config().teacher_session_h * 3600.0


def _same_room(wanted: str, code: str) -> bool:
    try:
        return normalize_room_code(wanted) == code
    except RoomError:
        return False


def signed_in_room() -> Room | None:
    """The room this visitor's session token opens (from this session or the cookie)."""
    wanted = query_param("room")
    for token in (st.session_state.get(_TOKEN), cookie(SESSION_COOKIE)):
        if not token:
            continue
        room = store().teacher_session(token)
        if room is not None and (not wanted or _same_room(wanted, room.code)):
            st.session_state[_TOKEN] = token
            return room
    return None


def still_signed_in() -> bool:
    """Whether this session's token still opens its room; the dashboard's live part asks
    every second, so a new key or a sign-out elsewhere closes an open tab too."""
    token = st.session_state.get(_TOKEN)
    return bool(token) and store().teacher_session(token) is not None


def sign_in(code: str) -> None:
    """Open a teacher session for ``code`` in this Streamlit session (the cookie follows)."""
    st.session_state[_TOKEN] = store().open_teacher_session(code, _ttl_s())


def keep_signed_in() -> None:
    """Renew the session cookie on this run (a page that signed the teacher in calls it)."""
    if st.session_state.get(_TOKEN):
        set_cookie(SESSION_COOKIE, st.session_state[_TOKEN], _ttl_s())


def sign_out() -> None:
    token = st.session_state.pop(_TOKEN, None)
    if token:
        store().end_teacher_session(token)
    set_cookie(SESSION_COOKIE, "", 0)


def rotate_key(code: str) -> str:
    """A new teacher key: the old one and every session (other tabs, other devices) end;
    this teacher gets a fresh session so the dashboard stays open."""
    key = store().rotate_teacher_key(code)
    sign_in(code)
    return key


def teacher_gate() -> Room:
    """The room whose teacher is signed in, or stop the page with the key form."""
    if "key" in st.query_params:
        # An old dashboard link: the key is never read from a URL, and leaves the address bar.
        del st.query_params["key"]
    room = signed_in_room()
    if room is not None:
        keep_signed_in()
        if not query_param("room"):
            st.query_params["room"] = room.code
        return room

    code = query_param("room")
    with st.form("teacher_key"):
        st.markdown("Enter the room code and the teacher key you got when you started the class.")
        typed_code = st.text_input("Room code", value=code, max_chars=20)
        typed_key = st.text_input("Teacher key", type="password", max_chars=40)
        submitted = st.form_submit_button("Open", type="primary")
    if submitted:
        try:
            limiter().attempt(LOGIN, client(), typed_code)
            room = store().authenticate_teacher(typed_code, typed_key.strip())
        except RateLimitedError as error:
            st.error(plain(str(error)))
        except TeacherKeyError:
            st.error("This teacher key does not open that room. Check the key you noted when you started the class.")
        except RoomError as error:
            st.error(plain(str(error)))
        else:
            sign_in(room.code)
            st.query_params["room"] = room.code
            st.rerun()
    st.stop()
