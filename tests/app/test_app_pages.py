"""The pages, run headless with streamlit.testing.v1.AppTest against a store in tmp_path."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import av
import numpy as np
import streamlit_webrtc
from streamlit.testing.v1 import AppTest

from apptest import all_text, join_as_student, page, probs, teacher_page
from fer.classroom.live import CameraPhase
from fer.classroom.samples import StudentSample

ROOT = Path(__file__).resolve().parents[2]


def test_landing_page_states_limits_and_the_eu_ban():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py")).run(timeout=30)
    assert not at.exception
    text = " ".join(m.value for m in at.markdown) + " ".join(w.value for w in at.warning)
    assert "does **not** measure learning" in text
    assert "Art. 5(1)(f)" in text


def test_landing_page_offers_start_and_join():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py")).run(timeout=30)
    labels = [link.label for link in at.get("page_link")]
    assert any("Start a class" in label for label in labels)
    assert any("Join a class" in label for label in labels)


def test_the_sidebar_lists_every_page_by_a_readable_name():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py")).run(timeout=30)
    sidebar_labels = [link.label for link in at.sidebar.get("page_link")]
    assert sidebar_labels == ["ClassMood", "Start a class", "Join a class", "Teacher dashboard",
                              "Session report", "Analyze a photo or video", "About the model"]
    config = (Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text()
    assert "showSidebarNavigation = false" in config  # Streamlit's file-name list stays hidden


def test_starting_a_class_gives_a_room_code_a_join_link_and_a_working_teacher_key(app_env):
    at = page("1_start.py").run()
    at.text_input[0].input("Linear algebra")
    at.button[0].click().run()
    assert not at.exception
    codes = [c.value for c in at.code]
    room_code, join_link, key = codes
    assert app_env.get_room(room_code).lecture == "Linear algebra"
    assert join_link.endswith(f"/join?room={room_code}")
    assert app_env.verify_teacher(room_code, key)
    # The dashboard link carries the room, never the key: the teacher is signed in instead.
    [dashboard] = [link for link in at.get("page_link") if "dashboard" in link.label.lower()] or [None]
    assert dashboard is None or "key" not in str(dashboard.proto)


def test_an_unknown_room_code_is_refused_with_a_clear_message(app_env):
    at = page("2_join.py", room="ZZZZ-ZZZZ").run()
    at.text_input[1].input("Ann")
    at.button[0].click().run()
    assert "there is no room ZZZZ-ZZZZ" in all_text(at)
    assert not at.checkbox  # no consent step, no camera


def test_a_closed_room_is_refused_with_a_clear_message(app_env):
    code, _ = app_env.create_room("Over")
    app_env.close_room(code)
    at = page("2_join.py", room=code).run()
    at.text_input[1].input("Ann")
    at.button[0].click().run()
    assert "has ended" in all_text(at)


def test_with_a_turn_secret_each_student_browser_gets_its_own_expiring_turn_login(app_env, fake_camera, monkeypatch):
    from fer.classroom.turn import turn_password

    secret = "the-school-turn-secret-0123456789"
    monkeypatch.setenv("CLASSMOOD_TURN_SECRET", secret)
    monkeypatch.setenv("CLASSMOOD_TURN_URLS", "turn:turn.school.example:3478")
    code, _ = app_env.create_room("Biology")
    at = join_as_student(code, "Ann")
    assert not at.exception
    [student] = app_env.students(code)
    [turn] = fake_camera[-1]["frontend_rtc_configuration"]["iceServers"]
    expiry, session = turn["username"].split(":")
    assert session == student.id and int(expiry) > time.time() + 3600
    assert turn["urls"] == ["turn:turn.school.example:3478"] and turn["credential"] == turn_password(secret, turn["username"])
    assert fake_camera[-1]["server_rtc_configuration"] == {"iceServers": []}  # the app's own end needs no relay
    assert secret not in all_text(at)
    at.run()  # a rerun keeps the session's login: the camera component is not handed a new one
    assert fake_camera[-1]["frontend_rtc_configuration"]["iceServers"] == [turn]


def test_the_camera_starts_only_after_consent_and_processes_frames(app_env, fake_camera):
    code, _ = app_env.create_room("Biology")
    at = page("2_join.py", room=code).run()
    at.text_input[1].input("Ann")
    at.button[0].click().run()
    text = all_text(at)
    assert "No image or video of you is stored" in text and "What the teacher sees" in text
    start = next(b for b in at.button if b.label == "Start my camera")
    assert start.disabled and not fake_camera
    assert not app_env.students(code)  # nobody joined before consent

    at.checkbox[0].check().run()
    next(b for b in at.button if b.label == "Start my camera").click().run()
    assert not at.exception
    assert len(fake_camera) >= 1
    call = fake_camera[-1]
    # Nothing is sent back (the preview is the browser's own), and the component is told
    # not to play until it has mounted: the consent's press then starts it, nothing else.
    assert call["mode"] == streamlit_webrtc.WebRtcMode.SENDONLY
    assert call["desired_playing_state"] is False
    assert call["frontend_rtc_configuration"] == call["server_rtc_configuration"] == {"iceServers": []}
    assert call["media_stream_constraints"]["audio"] is False and call["media_stream_constraints"]["video"]
    [student] = app_env.students(code)
    assert student.name == "Ann"
    assert "Starting your camera" in all_text(at)
    # Loading the model took TensorFlow out of the GC's scans: Streamlit collects after every
    # rerun, and scanning TensorFlow each time starved the WebRTC event loop (see test_e2e_browser).
    assert gc.get_freeze_count() > 0

    # The sink the browser's decoded frames go to hands them to the student's stream unconverted.
    frame = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="bgr24")
    call["sink_video_track"]._callback(frame)
    stream = at.session_state[f"stream:{student.id}"]
    assert stream.status().frames_in == 1 and stream.running
    stream.stop(mark_absent=True)
    assert app_env.samples(code)[-1].probs is None


def test_the_end_of_the_lecture_ends_the_camera_and_says_so(app_env, fake_camera):
    code, _ = app_env.create_room("Biology")
    at = join_as_student(code, "Ann")
    assert "Starting your camera" in all_text(at) and fake_camera
    rendered = len(fake_camera)
    app_env.close_room(code)  # the teacher ends the lecture
    at.run()
    assert "The lecture has ended" in all_text(at)
    assert len(fake_camera) == rendered  # the camera component is not rendered any more
    assert not [b for b in at.button if b.label.startswith("Turn my camera")]


def test_an_offer_not_answered_in_time_is_restarted_not_shown_as_a_crash(app_env, monkeypatch):
    from streamlit_webrtc.webrtc import SignallingTimeoutError

    calls = []

    def webrtc_streamer(key, **kwargs):  # the real one raises this when aiortc takes over 10 s
        calls.append(kwargs["desired_playing_state"])
        raise SignallingTimeoutError("Processing offer and initializing the worker has not finished in 10 seconds")

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", webrtc_streamer)
    code, _ = app_env.create_room("Biology")
    at = join_as_student(code, "Bo")  # the consent's press starts the camera
    assert not at.exception and calls
    assert "Leave the class" in [b.label for b in at.button]  # the rest of the page is there


def resumed(app_env, monkeypatch, camera_cookie: str = ""):
    """A student's page served afresh (a reload, or another replica) with this browser's cookies."""
    import ui.common

    code, _ = app_env.create_room("Biology")
    token = app_env.issue_resume_token(app_env.join(code, "Ann").id)
    jar = {"classmood_student": token, "classmood_camera": camera_cookie}
    monkeypatch.setattr(ui.common, "cookie", lambda name: jar.get(name, ""))
    at = page("2_join.py", room=code).run()
    return at, at.session_state[f"keeper:{at.session_state['student']['id']}"]


def test_a_resumed_student_s_camera_comes_back_on_by_itself(app_env, fake_camera, monkeypatch):
    at, keeper = resumed(app_env, monkeypatch)
    assert not at.exception and fake_camera and keeper.phase is CameraPhase.STARTING
    assert "Starting your camera" in all_text(at)
    assert "Turn my camera off" in [b.label for b in at.button]


def test_a_camera_the_student_turned_off_stays_off_after_a_reload(app_env, fake_camera, monkeypatch):
    at, keeper = resumed(app_env, monkeypatch, camera_cookie="off")
    assert not at.exception and fake_camera and keeper.phase is CameraPhase.OFF
    assert "Turn my camera on" in [b.label for b in at.button]


def test_leaving_marks_the_student_as_left(app_env, fake_camera):
    code, _ = app_env.create_room("Biology")
    at = join_as_student(code, "Bo")
    [student] = app_env.students(code)
    assert fake_camera
    next(b for b in at.button if b.label == "Leave the class").click().run()
    assert app_env.get_student(student.id).left_at is not None
    assert "You left" in all_text(at)


def test_a_student_page_reloaded_while_redis_is_down_retries_and_resumes_once_it_is_back(
        app_env, fake_camera, persistent_redis, monkeypatch):
    """As after a replica died, the student's page is served afresh by another replica just as
    Redis restarts: it must wait for the store instead of showing the student a traceback."""
    import threading

    from fer.classroom.store.factory import open_store
    from fer.config import AppConfig

    monkeypatch.setenv("REDIS_URL", persistent_redis.url)
    with open_store(AppConfig.from_env()) as redis_store:
        code, _ = redis_store.create_room("Biology")
        student = redis_store.join(code, "Ann")
        token = redis_store.issue_resume_token(student.id)
    import ui.common  # the browser's resume cookie (a real browser sends it: test_e2e_browser.py)

    monkeypatch.setattr(ui.common, "cookie", lambda name: token if name == "classmood_student" else "")
    at = page("2_join.py", room=code).run()  # the store is open, as on a running replica
    assert fake_camera
    fake_camera.clear()
    for key in ("student", f"stream:{student.id}", f"turn:{student.id}", f"keeper:{student.id}"):
        if key in at.session_state:
            del at.session_state[key]  # a fresh session, as on the replica that takes over
    persistent_redis.stop()
    back = threading.Timer(1.0, persistent_redis.start)  # the outage: Redis is back after a second
    back.start()
    try:
        at.run()
    finally:
        back.join()
    assert not at.exception, at.exception
    assert fake_camera, all_text(at)
    assert fake_camera[-1]["key"] == f"student-{student.id}"  # resumed, at the camera step
    assert "Ann" in all_text(at)


def test_the_dashboard_refuses_a_wrong_teacher_key(app_env):
    code, key = app_env.create_room("Physics")
    wrong = "ABCD-EFGH-JKLM-NPQR" if key != "ABCD-EFGH-JKLM-NPQR" else "BBCD-EFGH-JKLM-NPQR"
    at = teacher_page("3_dashboard.py", code, wrong)
    assert "does not open that room" in all_text(at)
    assert not at.metric and "Physics" not in all_text(at)


def test_the_dashboard_without_a_key_asks_for_one(app_env):
    code, _ = app_env.create_room("Physics")
    at = page("3_dashboard.py", room=code).run()
    assert [t.label for t in at.text_input] == ["Room code", "Teacher key"]
    assert not at.metric


def write_class(store, code: str) -> None:
    """Three students: two seen just now (happy, sad), one never seen."""
    ann, bo, _ = (store.join(code, name) for name in ("Ann", "Bo", "Cy"))
    t = max(ann.joined_at, bo.joined_at)
    store.record(
        [StudentSample(code, ann.id, t + 0.01 * i, probs("happy")) for i in range(5)]
        + [StudentSample(code, bo.id, t + 0.01 * i, probs("sad")) for i in range(5)]
    )


def test_the_dashboard_shows_the_class_numbers_written_to_the_store(app_env):
    code, key = app_env.create_room("Physics")
    write_class(app_env, code)
    at = teacher_page("3_dashboard.py", code, key)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Students joined"] == "3"
    assert metrics["Present"] == "2"
    assert metrics["Absent"] == "1"
    assert metrics["Engagement score"] == "67%"
    text = all_text(at)
    assert "Presence rate: the share of students" in text
    assert "**Ann**" in text and "happy" in text and "**Cy**" in text and "no video" in text
    assert metrics["Facing the screen"] == "–"  # these samples carry no head pose
    assert "Facing is not attention" in text
    assert len(at.get("plotly_chart")) == 3  # mood now, mood over time, presence and facing over time
    assert not at.get("image")  # never an image of a student


def test_marking_a_moment_stores_it_for_the_timeline(app_env):
    code, key = app_env.create_room("Physics")
    at = teacher_page("3_dashboard.py", code, key)
    at.text_input[0].input("quiz starts")
    next(b for b in at.button if b.label == "Mark it now").click().run()
    assert [m.label for m in app_env.moments(code)] == ["quiz starts"]


def test_ending_the_lecture_closes_the_room(app_env):
    code, key = app_env.create_room("Physics")
    at = teacher_page("3_dashboard.py", code, key)
    next(b for b in at.button if b.label == "End the lecture").click().run()
    assert not app_env.get_room(code).is_open
    assert "This lecture has ended" in all_text(at)


def test_the_report_offers_csv_json_and_png_downloads(app_env):
    code, key = app_env.create_room("Physics")
    write_class(app_env, code)
    app_env.add_moment(code, "quiz starts")
    at = teacher_page("4_report.py", code, key)
    assert not at.exception
    assert [b.label for b in at.download_button] == ["Timeline (CSV)", "Report (JSON)", "Charts (PNG)"]
    assert "quiz starts" in str(at.table[0].value)


def test_the_report_refuses_a_wrong_teacher_key(app_env):
    code, _ = app_env.create_room("Physics")
    at = teacher_page("4_report.py", code, "ABCD-EFGH-JKLM-NPQX")
    assert not at.download_button


def test_analyzing_an_uploaded_photo_shows_the_annotated_image_and_a_face_table(app_env, astronaut, monkeypatch):
    import cv2

    import fer.vision.pipeline as pipeline

    built, real_init = [], pipeline.FrameAnalyzer.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self.detector)

    monkeypatch.setattr(pipeline.FrameAnalyzer, "__init__", spy)
    monkeypatch.setenv("CLASSMOOD_ANALYZE_ACCESS", "open")
    frame, _ = astronaut
    at = page("5_analyze.py").run()
    at.file_uploader[0].upload("astronaut.png", cv2.imencode(".png", frame)[1].tobytes(), "image/png").run()
    assert not at.exception and not at.error
    assert at.get("imgs") or at.get("image")
    assert at.dataframe
    # An upload is searched as a photo of a whole class, not as a student's webcam frame.
    assert (built[-1].max_side, built[-1].upscale, built[-1].recheck_from) == (960, True, 0.2)


def test_analyzing_an_uploaded_video_shows_its_timeline_and_face_rows(app_env, astronaut, monkeypatch):
    import io

    monkeypatch.setenv("CLASSMOOD_ANALYZE_ACCESS", "open")
    monkeypatch.setenv("CLASSMOOD_MAX_VIDEO_S", "1")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 256, "yuv420p"
        for i in range(20):
            frame = np.roll(astronaut[0][:256, :320], 2 * i, axis=1).copy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    at = page("5_analyze.py").run()
    at.file_uploader[0].upload("lesson.mp4", buffer.getvalue(), "video/mp4").run()
    assert not at.exception and not at.error
    text = all_text(at)
    assert "Only the first 1 s were analyzed" in text and "3 analyzed" in text
    assert at.dataframe


def test_an_unreadable_upload_gets_a_clear_message(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_ANALYZE_ACCESS", "open")
    at = page("5_analyze.py").run()
    at.file_uploader[0].upload("notes.txt", b"hello, not a picture", "text/plain").run()
    assert "Cannot analyze this file" in all_text(at)


def test_a_concat_script_with_a_markdown_name_is_refused_and_the_name_stays_text(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_ANALYZE_ACCESS", "open")
    at = page("5_analyze.py").run()
    name = "[win](http://evil.example) **clip**.mp4"
    at.file_uploader[0].upload(name, b"ffconcat version 1.0\nfile 'secret.mp4'\n", "video/mp4").run()
    message = at.error[0].value
    assert "FFmpeg concat script" in message
    assert r"\[win\]\(http\://evil\.example\) \*\*clip\*\*\.mp4" in message  # escaped: shown as typed


def test_by_default_the_analyze_page_asks_for_the_teacher_key_of_a_running_class(app_env, monkeypatch, astronaut):
    import cv2

    monkeypatch.delenv("CLASSMOOD_ANALYZE_ACCESS", raising=False)
    at = page("5_analyze.py").run()
    assert not at.file_uploader and "teacher key" in all_text(at)
    code, key = app_env.create_room("Physics")
    at = teacher_page("5_analyze.py", code, key)
    assert at.file_uploader and not at.exception
    at.file_uploader[0].upload("astronaut.png", cv2.imencode(".png", astronaut[0])[1].tobytes(), "image/png").run()
    assert at.dataframe and not at.error
    app_env.close_room(code)
    at = teacher_page("5_analyze.py", code, key)
    assert not at.file_uploader and "has ended" in all_text(at)


def test_the_analyze_page_can_be_switched_off(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_ANALYZE_ACCESS", "off")
    at = page("5_analyze.py").run()
    assert not at.file_uploader and "switched off" in all_text(at)


def test_the_model_page_says_so_when_the_model_card_is_missing(app_env):
    at = page("6_model.py").run()
    assert not at.exception
    card = ROOT / "models" / "model_card.md"
    assert card.exists() or "model card" in all_text(at)
