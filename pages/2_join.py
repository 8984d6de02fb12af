"""Join a class (student): room code and name, an explicit consent step, then the camera.

The camera starts only after consent, with the consent's own press. The student sees their
own video (from their browser: nothing is sent back), whether their face is seen and their
current expression, and can turn the camera off or leave at any time. The camera component
is driven by the app (ui.camera, fer.classroom.live.CameraKeeper), which restarts a stream
that ended without the student asking and says "connection lost" until it is back. Wiring only: the live processing
is :class:`fer.classroom.live.StudentStream`, the storage :mod:`fer.classroom.store`.
"""

import time
import streamlit as st

from fer.classroom.live import CameraKeeper, CameraPhase, StreamState, StudentStream
from fer.classroom.rooms import RoomClosedError, RoomError, UnknownStudentError
from fer.classroom.store.base import StorageUnavailableError
from fer.classroom.turn import browser_rtc_configuration, session_credential
from ui.camera import answer_pending, camera, component_value, preview, stop_camera, stopper
from ui.common import analysis_gate, config, new_analyzer, query_param, sidebar, store

sidebar()
st.title("Join a class")
cfg = config()

#: Seconds before a page that could not reach the store tries again.
RETRY_S = 3

CAMERA_DENIED = (
    "Your camera did not start: your browser blocked it, or there is none, or another program uses it. "
    "ClassMood needs it to estimate your expression: allow the camera for this site (the camera icon in "
    "the address bar), then press **Turn my camera on**. You can also simply not take part: nothing "
    "happens if you leave this page."
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
        "- **How to leave:** press **Leave the class**, or **Turn my camera off**, or close the tab. Your camera turns off."
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
        keeper_for(st.session_state["student"]).want()  # this press starts the camera: nothing more to press
        st.rerun()
    if cols[1].button("Go back"):
        del st.session_state["joining"]
        st.rerun()


def camera_key(student: dict) -> str:
    return f"student-{student['id']}"


def stream_for(student: dict) -> StudentStream:
    """One processor per joined student, kept for the whole session (reruns included)."""
    key = f"stream:{student['id']}"
    if key not in st.session_state:
        st.session_state[key] = StudentStream.from_config(
            cfg, student["code"], student["id"], new_analyzer().analyze, store().record_sample, gate=analysis_gate(),
            on_ended=stopper(camera_key(student)),
        )
    return st.session_state[key]


def keeper_for(student: dict) -> CameraKeeper:
    """The student's camera switch (fer.classroom.live.CameraKeeper), kept for the session."""
    return st.session_state.setdefault(f"keeper:{student['id']}", CameraKeeper(name=student["id"]))


def leave(student: dict) -> None:
    stream_for(student).stop(mark_absent=False, final=True)
    keeper_for(student).end()
    stop_camera(camera_key(student))
    try:
        store().leave(student["id"])
    except (UnknownStudentError, RoomError):
        pass
    for prefix in ("stream", "keeper"):
        st.session_state.pop(f"{prefix}:{student['id']}", None)
    del st.session_state["student"]
    st.query_params.pop("student", None)
    st.session_state["left"] = student["lecture"]


def turn_off(student: dict) -> None:
    keeper_for(student).stop()
    stream_for(student).stop(mark_absent=True)


def step_camera() -> None:
    student = st.session_state["student"]
    stream, keeper = stream_for(student), keeper_for(student)
    st.markdown(f"**{student['lecture']}** (room {student['code']}): you are **{student['name']}**.")
    if keeper.phase is not CameraPhase.ENDED and not room_open(student["code"]):
        keeper.end()
    if keeper.phase is CameraPhase.ENDED:
        # The lecture ended: the connection is closed by the server, and the component is not
        # rendered any more (its iframe goes, and with it the browser's camera).
        stop_camera(camera_key(student))
        stream.stop(mark_absent=False, final=True)
        st.info("The lecture has ended. Your camera is off and nothing more is sent. You can close this page.")
        return
    # This session's own TURN login (fer.classroom.turn), for the browser only.
    turn_key = f"turn:{student['id']}"
    st.session_state[turn_key] = session_credential(cfg, student["id"], st.session_state.get(turn_key))

    video, side = st.columns([3, 2])
    with video:
        if keeper.phase in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING):
            preview(cfg.media_stream_constraints())
        camera(camera_key(student), stream, keeper,
               frontend_rtc_configuration=browser_rtc_configuration(cfg, st.session_state[turn_key]),
               server_rtc_configuration=cfg.rtc_configuration(),
               media_stream_constraints=cfg.media_stream_constraints(),
               translations={"device_access_denied": CAMERA_DENIED})
        if keeper.phase in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING):
            st.button("Turn my camera off", on_click=turn_off, args=(student,))
        else:
            st.button("Turn my camera on", type="primary", on_click=keeper.want)
    with side:
        status_panel(student)
        if st.button("Leave the class", type="primary"):
            leave(student)
            st.rerun()


@st.fragment(run_every=cfg.status_interval_s)
def status_panel(student: dict) -> None:
    """What the student sees of their stream, refreshed on its own; it also keeps the camera.

    Each refresh passes the component's state and the stream's last frame to the keeper (a
    stream that ended without STOP is restarted from here), sends the "connection lost"
    heartbeat while it is not back, and ends everything when the lecture ends.
    """
    stream, keeper = stream_for(student), keeper_for(student)
    if keeper.phase is CameraPhase.ENDED:
        return
    status = stream.status()
    if status.state is StreamState.ENDED or not room_open(student["code"]):
        keeper.end()
        st.rerun(scope="app")
    context = st.session_state.get(camera_key(student))
    keeper.observe(component_value(st.session_state, camera_key(student)) is not None,
                   bool(context is not None and context.state.playing),
                   bool(context is not None and context.state.signalling), stream.last_frame_at)
    if keeper.lost:
        stream.heartbeat(lost=True)
    if keeper.needs_rerun or answer_pending(camera_key(student)):
        st.rerun(scope="app")  # the component is told to play or stop, and gets its answer, only in a full run

    phase = keeper.phase
    if phase is CameraPhase.LIVE:
        st.success("Camera on: your video reaches the server.")
        expression = status.expression
        if expression is None:
            st.warning("Face not seen: face the camera, in good light. The teacher sees you as absent.")
        else:
            label, confidence = expression
            st.markdown("Face seen: **yes**")
            st.metric("Your expression now", label, f"{confidence:.0%} confidence", delta_color="off")
        st.caption(f"Frames analyzed: {status.frames_analyzed} of {status.frames_in} received.")
    elif keeper.lost and phase is CameraPhase.GAVE_UP:
        st.error("Connection lost: your video did not come back after several tries. Check your network, "
                 "then press **Turn my camera on**. Until then the teacher sees you as absent.")
    elif keeper.lost:
        st.error(f"Connection lost: reconnecting your camera ({keeper.lost_for:.0f} s). "
                 "The teacher sees \"connection lost\" until it is back.")
    elif phase is CameraPhase.STARTING:
        st.info("Starting your camera… If your browser asks for permission, allow the camera.")
    elif phase is CameraPhase.BLOCKED:
        st.error(CAMERA_DENIED)
    else:
        st.info("Your camera is off; the teacher sees you as absent. Press **Turn my camera on** to turn it on again.")
    if status.error and status.state is not StreamState.ENDED:
        st.caption(f"Last problem: {status.error}")


def room_open(code: str) -> bool:
    try:
        return store().get_room(code).is_open
    except RoomError:
        return False


if "left" in st.session_state and "student" not in st.session_state and "joining" not in st.session_state:
    st.success(f"You left {st.session_state.pop('left')}. Your camera is off and nothing more is sent.")
resume_from_link()
if "student" in st.session_state:
    step_camera()
elif "joining" in st.session_state:
    step_consent()
else:
    step_room()
