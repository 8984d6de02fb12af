"""Join a class (student): room code and name, an explicit consent step, then the camera.

The camera starts only after consent, and only in the browser that gave it: a reload
resumes the student through a secret resume token kept in a cookie of this browser (never
their id, never in the URL), so a shared join link or a copied address hands over nothing
and a new browser sees the consent step again. The student sees their own video with the face box
and their current expression, and can leave at any time. Wiring only: the live processing
is :class:`fer.classroom.live.StudentStream`, the storage :mod:`fer.classroom.store`.
"""

import time

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer.classroom.live import StreamState, StudentStream
from fer.classroom.ratelimit import JOIN
from fer.classroom.rooms import NameTakenError, RoomClosedError, RoomError, RoomLockedError, UnknownStudentError, name_key
from fer.classroom.store.base import StorageUnavailableError
from fer.classroom.turn import browser_rtc_configuration, session_credential
from ui.common import (
    ai_act_note, analysis_gate, client, config, cookie, limiter, new_analyzer, plain, query_param, raw_store, set_cookie,
    sidebar, storage_notice, store,
)
from ui.consent import CONSENT_VERSION, consent_markdown

sidebar()
st.title("Join a class")
cfg = config()
ai_act_note()

#: The cookie holding this browser's resume token; it lives as long as the room's data may.
RESUME_COOKIE = "classmood_student"

#: Seconds before a page that could not reach the store tries again.
RETRY_S = 3

CAMERA_DENIED = (
    "Your browser blocked the camera. ClassMood needs it to estimate your expression: allow the camera "
    "for this site (the camera icon in the address bar), then press START again. You can also simply "
    "not take part: nothing happens if you leave this page."
)


def resume_from_cookie() -> None:
    """A reload keeps the student in the room, in this browser only: the resume token of its
    cookie (:meth:`Store.resume`). A ``?student=`` of an old link is dropped unread."""
    if "student" in st.query_params:
        del st.query_params["student"]
    token = cookie(RESUME_COOKIE)
    if token and "student" not in st.session_state and "joining" not in st.session_state:
        try:
            student = raw_store().resume(token)
            room = raw_store().get_room(student.room)
        except RoomError:
            set_cookie(RESUME_COOKIE, "", 0)  # a dead token: forget it
            return
        except StorageUnavailableError:
            # Redis restarting, or this replica just took over from one that died: keep the
            # student's cookie and try again shortly instead of showing a traceback.
            st.warning("The class cannot be reached for a moment; this page tries again in a few seconds.")
            time.sleep(RETRY_S)
            st.rerun()
        st.session_state["student"] = {
            "id": student.id, "code": student.room, "name": student.name, "lecture": room.lecture, "token": token,
        }


def step_room() -> None:
    with st.form("join"):
        code = st.text_input("Room code", value=query_param("room"), max_chars=20, placeholder="ABCD-EFGH")
        name = st.text_input("Your display name (what the teacher sees)", max_chars=40)
        if st.form_submit_button("Continue", type="primary"):
            try:
                limiter().attempt(JOIN, client(), code)
                room = store().get_room(code)
                if not room.is_open:
                    raise RoomClosedError(f"the lecture {room.lecture!r} in room {room.code} has ended")
                if room.locked:
                    raise RoomLockedError("the teacher has locked this room: nobody new can join it now")
                if not name.strip():
                    raise RoomError("please enter a display name; a first name or a nickname is enough")
                if any(name_key(s.name) == name_key(name) for s in store().students(room.code, include_left=False)):
                    raise NameTakenError(f"someone in this room is already called {name.strip()!r}; please choose another display name")
            except RoomError as error:
                st.error(f"Cannot join: {plain(str(error))}")
            else:
                st.session_state["joining"] = {"code": room.code, "name": name.strip(), "lecture": room.lecture}
                st.rerun()


def step_consent() -> None:
    joining = st.session_state["joining"]
    st.markdown(
        f"You are joining **{plain(joining['lecture'])}** (room {joining['code']}) as **{plain(joining['name'])}**."
    )
    st.markdown(consent_markdown(cfg))
    agreed = st.checkbox("I understand and agree that my facial expression is analyzed as described.")
    cols = st.columns(2)
    if cols[0].button("Start my camera", type="primary", disabled=not agreed):
        try:
            student = store().join(joining["code"], joining["name"], consent_version=CONSENT_VERSION)
            token = store().issue_resume_token(student.id)
        except RoomError as error:
            st.error(f"Cannot join: {plain(str(error))}")
            return
        st.session_state["student"] = {
            "id": student.id, "code": student.room, "name": student.name, "lecture": joining["lecture"], "token": token,
        }
        st.query_params["room"] = student.room
        del st.session_state["joining"]
        st.rerun()
    if cols[1].button("Go back"):
        del st.session_state["joining"]
        st.rerun()


def stream_for(student: dict) -> StudentStream:
    """One processor per joined student, kept for the whole session (reruns included)."""
    key = f"stream:{student['id']}"
    if key not in st.session_state:
        st.session_state[key] = StudentStream.from_config(
            cfg, student["code"], student["id"], new_analyzer().analyze, store().record_sample, gate=analysis_gate()
        )
    return st.session_state[key]


def step_camera() -> None:
    student = st.session_state["student"]
    set_cookie(RESUME_COOKIE, student["token"], cfg.retention_s)
    stream = stream_for(student)
    st.markdown(f"**{plain(student['lecture'])}** (room {student['code']}): you are **{plain(student['name'])}**.")

    def video_frame_callback(frame: av.VideoFrame) -> av.VideoFrame:
        # Runs on streamlit-webrtc's thread for every frame: no st.* here.
        if not stream.running:
            stream.start()
        out = stream.process(frame.to_ndarray(format="bgr24"))
        return av.VideoFrame.from_ndarray(out, format="bgr24")

    def on_video_ended() -> None:
        stream.stop(mark_absent=True)

    # This session's own TURN login (fer.classroom.turn), for the browser only.
    turn_key = f"turn:{student['id']}"
    st.session_state[turn_key] = session_credential(cfg, student["id"], st.session_state.get(turn_key))

    video, side = st.columns([3, 2])
    with video:
        webrtc_streamer(
            key=f"student-{student['id']}",
            mode=WebRtcMode.SENDRECV,
            frontend_rtc_configuration=browser_rtc_configuration(cfg, st.session_state[turn_key]),
            server_rtc_configuration=cfg.rtc_configuration(),
            media_stream_constraints=cfg.media_stream_constraints(),
            video_frame_callback=video_frame_callback,
            on_video_ended=on_video_ended,
            async_processing=True,
            translations={"device_access_denied": CAMERA_DENIED},
        )
    with side:
        status_panel(stream)
        leave = st.button("Leave the class", type="primary")
        erase = st.button("Leave and delete my numbers", help="Your name and every number of yours are erased now.")
        if leave or erase:
            stream.stop(mark_absent=False, final=True)
            try:
                store().leave(student["id"])
                if erase:
                    store().delete_student_data(student["id"])
            except (UnknownStudentError, RoomError):
                pass
            st.session_state.pop(f"stream:{student['id']}", None)
            del st.session_state["student"]
            st.session_state["left"] = (student["lecture"], erase)
            st.rerun()


@st.fragment(run_every=1)
def status_panel(stream: StudentStream) -> None:
    status = stream.status()
    storage_notice()
    if status.state is StreamState.WAITING:
        st.info(
            "Press **START** to turn your camera on. If nothing happens, your browser may be asking for "
            "permission, or it blocked the camera: allow it in the address bar and press START again."
        )
    elif status.state is StreamState.STALLED:
        st.error(
            "Connection lost: your video has not reached the server for a few seconds. Check your network, "
            "then press STOP and START. Until it is back, the teacher sees you as absent."
        )
    elif status.state is StreamState.STOPPED:
        st.info("Your camera is off; the teacher sees you as absent. Press START to turn it on again.")
    elif status.state is StreamState.ENDED:
        st.warning(f"Analysis stopped: {plain(status.error)}.")
    else:
        expression = status.expression
        if expression is None:
            st.warning("No face found: face the camera, in good light.")
        else:
            label, confidence = expression
            st.metric("Your expression now", label, f"{confidence:.0%} confidence", delta_color="off")
    if status.error and status.state is not StreamState.ENDED:
        st.caption(f"Last problem: {plain(status.error)}")


if "left" in st.session_state and "student" not in st.session_state and "joining" not in st.session_state:
    lecture, erased = st.session_state.pop("left")
    set_cookie(RESUME_COOKIE, "", 0)
    st.success(
        f"You left {plain(lecture)}. Your camera is off and nothing more is sent."
        + (" Your name and numbers are deleted." if erased else "")
    )
resume_from_cookie()
if "student" in st.session_state:
    step_camera()
elif "joining" in st.session_state:
    step_consent()
else:
    step_room()
