"""Join a class (student): room code and name, an explicit consent step, then the camera.

The camera starts only after consent, with the consent's own press, and only in the browser
that gave it: a reload resumes the student through a secret resume token kept in a cookie of
this browser (never their id, never in the URL), so a shared join link or a copied address hands
over nothing and a new browser sees the consent step again. The student sees their own video
(from their browser: nothing is sent back), whether their face is seen and their current
expression, and can turn the camera off or leave at any time. The camera component is driven by
the app (ui.camera, fer.classroom.live.CameraKeeper), which restarts a stream that ended without
the student asking and says "connection lost" until it is back. Wiring only: the live processing
is :class:`fer.classroom.live.StudentStream`, the storage :mod:`fer.classroom.store`.
"""

import time

import streamlit as st

from fer.classroom.live import CameraKeeper, CameraPhase, StreamState, StudentStream
from fer.classroom.ratelimit import JOIN
from fer.classroom.rooms import (
    NameTakenError,
    RoomClosedError,
    RoomError,
    RoomLockedError,
    UnknownStudentError,
    name_key,
)
from fer.classroom.store.base import StorageUnavailableError
from fer.classroom.turn import browser_rtc_configuration, session_credential
from ui.camera import answer_pending, camera, component_value, preview, stop_camera, stopper
from ui.common import (
    ai_act_note,
    analysis_gate,
    client,
    config,
    cookie,
    limiter,
    new_analyzer,
    plain,
    query_param,
    raw_store,
    set_cookie,
    sidebar,
    storage_notice,
    store,
)
from ui.consent import CONSENT_VERSION, consent_markdown

sidebar()
st.title("Join a class")
cfg = config()
ai_act_note()

#: The cookie holding this browser's resume token; it lives as long as the room's data may.
RESUME_COOKIE = "classmood_student"

#: The cookie saying the student turned their camera off ("off"): a reload, or a replica that
#: takes over after another died, resumes the camera as the student left it.
CAMERA_COOKIE = "classmood_camera"

#: Seconds before a page that could not reach the store tries again.
RETRY_S = 3

CAMERA_DENIED = (
    "Your camera did not start: your browser blocked it, or there is none, or another program uses it. "
    "ClassMood needs it to estimate your expression: allow the camera for this site (the camera icon in "
    "the address bar), then press **Turn my camera on**. You can also simply not take part: nothing "
    "happens if you leave this page."
)


def resume_from_cookie() -> None:
    """A reload keeps the student in the room, in this browser only: the resume token of its
    cookie (:meth:`Store.resume`). A ``?student=`` of an old link is dropped unread. The camera
    comes back on unless the student had turned it off: a reload, or a replica taking over from
    one that died, must not leave a student absent until they find a button."""
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
        st.session_state["cookies"] = {RESUME_COOKIE: token, CAMERA_COOKIE: cookie(CAMERA_COOKIE)}
        if cookie(CAMERA_COOKIE) != "off":
            keeper_for(st.session_state["student"]).want()  # the camera comes back as it was: no press


def keep_cookie(name: str, value: str, max_age_s: float) -> None:
    """Write a cookie of this browser once per value (each write is a small script in the page)."""
    written = st.session_state.setdefault("cookies", {})
    if written.get(name) != value:
        set_cookie(name, value, max_age_s)
        written[name] = value


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


def leave(student: dict, erase: bool = False) -> None:
    """The student leaves (their camera stops); with ``erase`` their name and numbers go too."""
    stream_for(student).stop(mark_absent=False, final=True)
    keeper_for(student).end()
    stop_camera(camera_key(student))
    try:
        store().leave(student["id"])
        if erase:
            store().delete_student_data(student["id"])
    except (UnknownStudentError, RoomError):
        pass
    for prefix in ("stream", "keeper"):
        st.session_state.pop(f"{prefix}:{student['id']}", None)
    del st.session_state["student"]
    st.session_state["left"] = (student["lecture"], erase)


def turn_off(student: dict) -> None:
    keeper_for(student).stop()
    stream_for(student).stop(mark_absent=True)


def step_camera() -> None:
    student = st.session_state["student"]
    keep_cookie(RESUME_COOKIE, student["token"], cfg.retention_s)
    stream, keeper = stream_for(student), keeper_for(student)
    st.markdown(f"**{plain(student['lecture'])}** (room {student['code']}): you are **{plain(student['name'])}**.")
    keep_cookie(CAMERA_COOKIE, "off" if keeper.phase is CameraPhase.OFF else "on", cfg.retention_s)
    lecture_runs = room_open(student["code"])  # one store read a run
    if keeper.phase is not CameraPhase.ENDED and (stream.status().state is StreamState.ENDED or not lecture_runs):
        keeper.end()
    if keeper.phase is CameraPhase.ENDED:
        # The lecture ended (or the teacher removed this student): the connection is closed by
        # the server, and the component is not rendered any more (its iframe goes, and with it
        # the browser's camera).
        stop_camera(camera_key(student))
        error = stream.status().error
        stream.stop(mark_absent=False, final=True)
        if lecture_runs and error:
            st.warning(f"Your camera is off and nothing more is sent: {plain(error)}.")
        else:
            st.info("The lecture has ended. Your camera is off and nothing more is sent. You can close this page.")
        return
    # This session's own TURN login (fer.classroom.turn), for the browser only.
    turn_key = f"turn:{student['id']}"
    st.session_state[turn_key] = session_credential(cfg, student["id"], st.session_state.get(turn_key))

    video, side = st.columns([3, 2])
    with video:
        if keeper.phase in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING):
            preview(cfg.preview_constraints())
        camera(camera_key(student), stream, keeper,
               frontend_rtc_configuration=browser_rtc_configuration(cfg, st.session_state[turn_key]),
               server_rtc_configuration=cfg.rtc_configuration(),
               media_stream_constraints=cfg.media_stream_constraints(),
               translations={"device_access_denied": CAMERA_DENIED}, max_kbps=cfg.camera_kbps)
        if keeper.phase in (CameraPhase.STARTING, CameraPhase.LIVE, CameraPhase.RECONNECTING):
            st.button("Turn my camera off", on_click=turn_off, args=(student,))
        else:
            st.button("Turn my camera on", type="primary", on_click=keeper.want)
    with side:
        status_panel(student)
        leaving = st.button("Leave the class", type="primary")
        erase = st.button("Leave and delete my numbers", help="Your name and every number of yours are erased now.")
        if leaving or erase:
            leave(student, erase=erase)
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
    storage_notice()
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
        st.caption(f"Last problem: {plain(status.error)}")


def room_open(code: str) -> bool:
    """Whether the lecture still runs. A store outage is not its end: the stream goes on and
    its samples wait in the buffer (the status panel says so), so this answers yes then."""
    try:
        return raw_store().get_room(code).is_open
    except RoomError:
        return False
    except StorageUnavailableError:
        return True


if "left" in st.session_state and "student" not in st.session_state and "joining" not in st.session_state:
    lecture, erased = st.session_state.pop("left")
    set_cookie(RESUME_COOKIE, "", 0)
    set_cookie(CAMERA_COOKIE, "", 0)
    st.session_state.pop("cookies", None)
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
