"""Join a class (student): room code and name, an explicit consent step, then the camera.

The camera starts only after consent. The student sees their own video with the face box
and their current expression, and can leave at any time. Wiring only: the live processing
is :class:`fer.classroom.live.StudentStream`, the storage :mod:`fer.classroom.store`.
"""

import time

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer.classroom.live import StreamState, StudentStream
from fer.classroom.rooms import RoomClosedError, RoomError, UnknownStudentError
from fer.classroom.store.base import StorageUnavailableError
from fer.classroom.turn import browser_rtc_configuration, session_credential
from ui.common import analysis_gate, config, new_analyzer, query_param, sidebar, store

sidebar()
st.title("Join a class")
cfg = config()

#: Seconds before a page that could not reach the store tries again.
RETRY_S = 3

CAMERA_DENIED = (
    "Your browser blocked the camera. ClassMood needs it to estimate your expression: allow the camera "
    "for this site (the camera icon in the address bar), then press START again. You can also simply "
    "not take part: nothing happens if you leave this page."
)


def resume_from_link() -> None:
    """A reload keeps the student in the room: their id travels in the URL (?student=)."""
    student_id = query_param("student")
    if student_id and "student" not in st.session_state:
        try:
            student = store().get_student(student_id)
            room = store().get_room(student.room)
        except RoomError:
            del st.query_params["student"]
            return
        except StorageUnavailableError:
            # Redis restarting, or this replica just took over from one that died: keep the
            # student's link and try again shortly instead of showing a traceback.
            st.warning("The class cannot be reached for a moment; this page tries again in a few seconds.")
            time.sleep(RETRY_S)
            st.rerun()
        if student.left_at is None and room.is_open:
            st.session_state["student"] = {"id": student.id, "code": student.room, "name": student.name, "lecture": room.lecture}


def step_room() -> None:
    with st.form("join"):
        code = st.text_input("Room code", value=query_param("room"), max_chars=20, placeholder="ABCD-EFGH")
        name = st.text_input("Your display name (what the teacher sees)", max_chars=40)
        if st.form_submit_button("Continue", type="primary"):
            try:
                room = store().get_room(code)
                if not room.is_open:
                    raise RoomClosedError(f"the lecture {room.lecture!r} in room {room.code} has ended")
                if not name.strip():
                    raise RoomError("please enter a display name; a first name or a nickname is enough")
            except RoomError as error:
                st.error(f"Cannot join: {error}")
            else:
                st.session_state["joining"] = {"code": room.code, "name": name.strip(), "lecture": room.lecture}
                st.rerun()


def step_consent() -> None:
    joining = st.session_state["joining"]
    st.markdown(f"You are joining **{joining['lecture']}** (room {joining['code']}) as **{joining['name']}**.")
    st.markdown(
        "#### Before your camera starts\n"
        "- **What is analyzed:** while your camera is on, the server looks for your face a few times a "
        "second and estimates your facial expression as seven numbers (angry, disgust, fear, happy, sad, "
        "surprise, neutral).\n"
        "- **What is stored:** only those numbers, about once a second, with your display name and the time. "
        "**No image or video of you is stored** or recorded anywhere; frames are analyzed in memory and dropped.\n"
        "- **What the teacher sees:** the class mood as charts, and a tile with your display name, whether "
        "your face is seen (present or absent), your current expression with its confidence and a short trend. "
        "The teacher never sees your video.\n"
        "- **Limits:** the estimate is often wrong and says nothing about your attention or learning; it must "
        "not be used to grade you.\n"
        "- **How to leave:** press **Leave the class** below, or **STOP**, or close the tab. Your camera turns off."
    )
    agreed = st.checkbox("I understand and agree that my facial expression is analyzed as described.")
    cols = st.columns(2)
    if cols[0].button("Start my camera", type="primary", disabled=not agreed):
        try:
            student = store().join(joining["code"], joining["name"])
        except RoomError as error:
            st.error(f"Cannot join: {error}")
            return
        st.session_state["student"] = {"id": student.id, "code": student.room, "name": student.name, "lecture": joining["lecture"]}
        st.query_params["room"] = student.room
        st.query_params["student"] = student.id
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
    stream = stream_for(student)
    st.markdown(f"**{student['lecture']}** (room {student['code']}): you are **{student['name']}**.")

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
        if st.button("Leave the class", type="primary"):
            stream.stop(mark_absent=False, final=True)
            try:
                store().leave(student["id"])
            except (UnknownStudentError, RoomError):
                pass
            st.session_state.pop(f"stream:{student['id']}", None)
            del st.session_state["student"]
            st.query_params.pop("student", None)
            st.session_state["left"] = student["lecture"]
            st.rerun()


@st.fragment(run_every=1)
def status_panel(stream: StudentStream) -> None:
    status = stream.status()
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
        st.warning(f"Analysis stopped: {status.error}.")
    else:
        expression = status.expression
        if expression is None:
            st.warning("No face found: face the camera, in good light.")
        else:
            label, confidence = expression
            st.metric("Your expression now", label, f"{confidence:.0%} confidence", delta_color="off")
    if status.error and status.state is not StreamState.ENDED:
        st.caption(f"Last problem: {status.error}")


if "left" in st.session_state and "student" not in st.session_state and "joining" not in st.session_state:
    st.success(f"You left {st.session_state.pop('left')}. Your camera is off and nothing more is sent.")
resume_from_link()
if "student" in st.session_state:
    step_camera()
elif "joining" in st.session_state:
    step_consent()
else:
    step_room()
