"""Every attack of the trust issue, played against the pages (AppTest), and its refusal.

Each test is one thing a hostile or careless visitor did in the issue: read the teacher key
off a shared screen or a link, inject markdown through a name, take over a student from a
copied join link, guess keys, flood rooms and joins, stay in a room after being sent out,
find data that should be gone, read one student's mood from a small report bucket, and see
a traceback when the store fails. The real-browser half (a reload keeps the dashboard, the
key never in the address bar, a new browser sees consent) is in test_e2e_browser.py.
"""

from __future__ import annotations

import csv
import io
import json
import time
import tomllib

import pytest

from apptest import ROOT, all_text, join_as_student, page, probs, sign_in, teacher_page
from fer.classroom.rooms import RoomClosedError, StudentRemovedError, UnknownRoomError, UnknownStudentError
from fer.classroom.samples import StudentSample
from fer.classroom.store.sqlite import SQLiteStore
from ui.common import OUTAGE_MESSAGE

HOSTILE_NAME = "![p](http://127.0.0.9/p.gif):green[ok]"


def other_key(key: str) -> str:
    return "ABCD-EFGH-JKLM-NPQR" if key != "ABCD-EFGH-JKLM-NPQR" else "BBCD-EFGH-JKLM-NPQR"


def raw_markdown(at) -> str:
    """Every markdown source the page sent, unescaped backslashes included."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    return "\n".join(parts + [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info])


def present_students(store, code: str, names: list[str], label: str = "happy") -> list:
    students = [store.join(code, name) for name in names]
    t = max(s.joined_at for s in students)
    store.record([StudentSample(code, s.id, t + 0.01 * i, probs(label)) for s in students for i in range(3)])
    return students


# --------------------------------------------------------------------------- the teacher key


def test_the_teacher_key_is_shown_once_and_is_in_no_link_or_url(app_env):
    at = page("1_start.py").run()
    at.text_input[0].input("Physics")
    at.button[0].click().run()
    code, join_link, key = [c.value for c in at.code]
    for link in at.get("page_link"):
        assert key not in str(link.proto) and key.replace("-", "") not in str(link.proto)
    assert key not in join_link and dict(at.query_params).get("key") is None
    at.run()  # any later run of the page: the key is gone for good
    assert key not in all_text(at) and [c.value for c in at.code] == [code, join_link]


def test_a_key_in_the_url_opens_nothing_and_leaves_the_address_bar(app_env):
    code, key = app_env.create_room("Physics")
    at = page("3_dashboard.py", room=code, key=key).run()
    assert not at.metric and [t.label for t in at.text_input] == ["Room code", "Teacher key"]
    assert "key" not in at.query_params


def test_a_rotated_key_ends_every_other_session_and_the_old_key(app_env):
    code, key = app_env.create_room("Physics")
    mine, other_tab = teacher_page("3_dashboard.py", code, key), teacher_page("3_dashboard.py", code, key)
    assert mine.metric and other_tab.metric
    next(b for b in mine.button if b.label == "Make a new teacher key").click().run()
    new_key = mine.code[0].value
    assert new_key != key and app_env.verify_teacher(code, new_key) and not app_env.verify_teacher(code, key)
    assert mine.metric  # this teacher stays signed in
    other_tab.run()
    assert not other_tab.metric and "Teacher key" in [t.label for t in other_tab.text_input]
    assert "does not open that room" in all_text(sign_in(other_tab, code, key))


def test_wrong_keys_are_rate_limited_with_a_plain_wait(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_LOGIN_LIMIT", "3")
    code, key = app_env.create_room("Physics")
    at = page("3_dashboard.py", room=code).run()
    for _ in range(3):
        assert "does not open that room" in all_text(sign_in(at, code, other_key(key)))
    refused = all_text(sign_in(at, code, key))  # even the right key waits now: guessing stops here
    assert "Too many teacher-key attempts from your connection" in refused and "wait 10 minutes" in refused
    assert not at.metric


# --------------------------------------------------------------------------- names are text


def test_a_markdown_display_name_stays_text_on_the_dashboard(app_env):
    code, key = app_env.create_room("Physics")
    present_students(app_env, code, [HOSTILE_NAME])
    at = teacher_page("3_dashboard.py", code, key)
    assert not at.exception
    source = raw_markdown(at)
    assert "![p](http" not in source and ":green[ok]" not in source  # no image, no colour tag
    assert HOSTILE_NAME in all_text(at)  # shown as the student typed it


def test_markdown_and_math_in_a_lecture_name_stay_text_in_pages_and_downloads(app_env):
    lecture = "Cost $\\foo$ **bold** :red[x]"
    code, key = app_env.create_room(lecture)
    present_students(app_env, code, ["Ann", "Bo", "Cy"])
    at = teacher_page("4_report.py", code, key)
    assert not at.exception
    assert "$\\foo$" not in raw_markdown(at) and lecture in all_text(at)
    from fer.classroom.report import session_report

    report = session_report(app_env, code, 30.0, time.time())
    assert report.to_png().startswith(b"\x89PNG")  # matplotlib did not parse "$\foo$" as math
    assert json.loads(report.to_json())["lecture"] == lecture


def test_csv_cells_never_start_a_formula():
    from fer.classroom.report import csv_cell

    assert [csv_cell(v) for v in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "happy", 0.5, None)] == [
        "'=HYPERLINK(1)", "'+1", "'-1", "'@SUM(A1)", "happy", 0.5, ""
    ]


def test_two_students_present_cannot_share_a_name(app_env, fake_camera):
    code, _ = app_env.create_room("Physics")
    join_as_student(code, "Ann")
    at = page("2_join.py", room=code).run()
    at.text_input[1].input("ann")
    at.button[0].click().run()
    assert "already called" in all_text(at) and not at.checkbox
    assert [s.name for s in app_env.students(code)] == ["Ann"]


# --------------------------------------------------------------------------- student identity


def test_a_student_id_in_the_join_url_resumes_nobody_and_a_new_browser_sees_consent(app_env, fake_camera):
    code, _ = app_env.create_room("Biology")
    join_as_student(code, "Ann")
    [ann] = app_env.students(code)
    assert ann.consent_version and ann.consent_at == ann.joined_at
    before = len(fake_camera)
    stranger = page("2_join.py", room=code, student=ann.id).run()  # the link copied from Ann's address bar
    assert len(fake_camera) == before  # no camera for the stranger
    assert "Your display name (what the teacher sees)" in [t.label for t in stranger.text_input]
    assert "student" not in stranger.query_params
    stranger.text_input[1].input("Bo")
    stranger.button[0].click().run()
    assert "Before your camera starts" in all_text(stranger)  # the consent step, again


def test_a_removed_student_is_out_their_stream_refused_and_their_token_dead(app_env):
    code, key = app_env.create_room("Physics")
    ann, bo = present_students(app_env, code, ["Ann", "Bo"])
    token = app_env.issue_resume_token(ann.id)
    at = teacher_page("3_dashboard.py", code, key)
    at.selectbox(key="remove_pick").set_value(ann).run()
    next(b for b in at.button if b.label == "Remove from the room").click().run()
    assert app_env.get_student(ann.id).removed_at is not None
    with pytest.raises(UnknownStudentError):
        app_env.resume(token)
    with pytest.raises(StudentRemovedError):  # what the student's stream gets for its next sample
        app_env.record_sample(StudentSample(code, ann.id, time.time() + 1, probs("happy")))
    app_env.record_sample(StudentSample(code, bo.id, time.time() + 1, probs("happy")))  # Bo stays


def test_a_removed_students_page_turns_the_camera_off_and_says_why(app_env, fake_camera):
    code, key = app_env.create_room("Physics")
    student = join_as_student(code, "Ann")
    [ann] = app_env.students(code)
    teacher = teacher_page("3_dashboard.py", code, key)
    teacher.selectbox(key="remove_pick").set_value(ann).run()
    next(b for b in teacher.button if b.label == "Remove from the room").click().run()
    stream = student.session_state[f"stream:{ann.id}"]
    stream._send(StudentSample(code, ann.id, time.time() + 1, probs("happy")))  # the next sample: refused
    rendered = len(fake_camera)
    student.run()
    text = all_text(student)
    assert "Your camera is off and nothing more is sent: the teacher removed Ann" in text, text
    assert "The lecture has ended" not in text
    assert len(fake_camera) == rendered  # the camera component is not rendered any more
    assert not [b for b in student.button if b.label.startswith("Turn my camera")]


def test_a_locked_room_refuses_joins_with_a_message(app_env):
    code, key = app_env.create_room("Physics")
    at = teacher_page("3_dashboard.py", code, key)
    next(b for b in at.button if b.label == "Lock the room").click().run()
    join = page("2_join.py", room=code).run()
    join.text_input[1].input("Late")
    join.button[0].click().run()
    assert "locked" in all_text(join) and not join.checkbox


def test_ending_the_lecture_refuses_every_stream(app_env):
    code, key = app_env.create_room("Physics")
    students = present_students(app_env, code, ["Ann", "Bo"])
    at = teacher_page("3_dashboard.py", code, key)
    next(b for b in at.button if b.label == "End the lecture").click().run()
    for student in students:
        with pytest.raises(RoomClosedError):
            app_env.record_sample(StudentSample(code, student.id, time.time() + 1, probs("sad")))


# --------------------------------------------------------------------------- rate limits


def test_room_creation_is_rate_limited(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_CREATE_LIMIT", "2")
    at = page("1_start.py").run()
    for lecture in ("One", "Two", "Three"):
        at.text_input[0].input(lecture)
        at.button[0].click().run()
    assert "Too many new rooms from your connection" in all_text(at) and "wait" in all_text(at)


def test_joins_are_rate_limited(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_JOIN_LIMIT", "2")
    code, _ = app_env.create_room("Physics")
    at = page("2_join.py", room=code).run()
    for _ in range(3):
        at.text_input[1].input("Ann")
        at.button[0].click().run()
        if at.checkbox:
            next(b for b in at.button if b.label == "Go back").click().run()
    assert "Too many joins from your connection" in all_text(at) and not at.checkbox


# --------------------------------------------------------------------------- deletion and retention


def test_the_teacher_deletes_the_lecture(app_env):
    code, key = app_env.create_room("Physics")
    present_students(app_env, code, ["Ann"])
    at = teacher_page("3_dashboard.py", code, key)
    at.checkbox(key="delete_sure").check().run()
    next(b for b in at.button if b.label == "Delete this lecture's data").click().run()
    assert "deleted" in all_text(at)
    with pytest.raises(UnknownRoomError):
        app_env.get_room(code)


def test_a_student_deletes_their_own_numbers(app_env, fake_camera):
    code, _ = app_env.create_room("Physics")
    at = join_as_student(code, "Ann")
    [ann] = app_env.students(code)
    bo = app_env.join(code, "Bo")
    t = time.time()
    app_env.record([StudentSample(code, ann.id, t + 0.1, probs("happy")), StudentSample(code, bo.id, t + 0.1, probs("sad"))])
    next(b for b in at.button if b.label == "Leave and delete my numbers").click().run()
    assert "Your name and numbers are deleted" in all_text(at)
    assert {s.student_id for s in app_env.samples(code)} == {bo.id}
    assert [s.name for s in app_env.students(code)] == ["Bo"]


def test_expired_lectures_are_purged_when_a_page_runs(app_env, tmp_path):
    import ui.common

    with SQLiteStore(tmp_path / "data", clock=lambda: time.time() - 31 * 86400) as past:
        old, _ = past.create_room("Last month")
    young, _ = app_env.create_room("Today")
    ui.common._purged_at[0] = -float("inf")  # the hourly purge is due
    page("2_join.py").run()
    with pytest.raises(UnknownRoomError):
        app_env.get_room(old)
    assert app_env.get_room(young).lecture == "Today"


def test_the_consent_text_says_how_long_by_whom_and_how_to_delete(app_env, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_RETENTION_DAYS", "14")
    code, _ = app_env.create_room("Physics")
    at = page("2_join.py", room=code).run()
    at.text_input[1].input("Ann")
    at.button[0].click().run()
    text = all_text(at)
    assert "14 days" in text and "running this ClassMood server" in text and "Leave and delete my numbers" in text
    readme = (ROOT / "README.md").read_text()
    assert "CLASSMOOD_RETENTION_DAYS" in readme and "Leave and delete my numbers" in readme


# --------------------------------------------------------------------------- small report buckets


def test_the_report_and_its_downloads_hide_the_mix_of_fewer_than_three_students(app_env):
    from fer.classroom.report import session_report

    code, key = app_env.create_room("Physics")
    present_students(app_env, code, ["Ann", "Bo"])
    at = teacher_page("4_report.py", code, key)
    assert "hidden" in all_text(at) and not at.get("plotly_chart")
    report = session_report(app_env, code, 30.0, time.time() + 1)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert rows and all(r["happy"] == "" and r["dominant"] == "" for r in rows)
    assert any(r["mix_hidden"] == "True" and r["present"] == "2" for r in rows)
    assert json.loads(report.to_json())["emotion_shares"] is None

    other, _ = app_env.create_room("Physics, bigger")
    present_students(app_env, other, ["Ann", "Bo", "Cy"])
    shown = session_report(app_env, other, 30.0, time.time() + 1)
    assert shown.shares is not None and not shown.hidden


# --------------------------------------------------------------------------- errors and outages


def test_streamlit_shows_no_tracebacks_sends_no_usage_statistics_and_keeps_xsrf():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"].get("enableXsrfProtection", True) is True


def test_the_eu_ai_act_note_is_on_the_start_and_join_pages(app_env):
    for name in ("1_start.py", "2_join.py"):
        assert "Art. 5(1)(f)" in all_text(page(name).run())


@pytest.mark.parametrize("name", ["1_start.py", "2_join.py", "3_dashboard.py", "4_report.py", "5_analyze.py"])
def test_a_store_that_cannot_be_reached_is_a_clear_message_on_every_page(app_env, monkeypatch, name):
    from browser import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    at = page(name, room="ABCD-EFGH").run()
    if name == "1_start.py":
        at.text_input[0].input("Physics")
        at.button[0].click().run()
    elif name == "2_join.py":
        at.text_input[1].input("Ann")
        at.button[0].click().run()
    else:  # a teacher page: the key form's check needs the store
        sign_in(at, "ABCD-EFGH", "ABCD-EFGH-JKLM-NPQR")
    assert not at.exception
    assert OUTAGE_MESSAGE in [e.value for e in at.error]
    assert "Traceback" not in all_text(at) and "redis://" not in all_text(at)


def test_an_outage_during_a_lecture_is_a_message_for_the_teacher_and_a_warning_for_the_student(
    app_env, monkeypatch, persistent_redis, fake_camera
):
    monkeypatch.setenv("REDIS_URL", persistent_redis.url)
    from fer.classroom.store.redis import RedisStore

    with RedisStore(persistent_redis.url) as redis_store:
        code, key = redis_store.create_room("Physics")
    teacher = teacher_page("3_dashboard.py", code, key)
    student = join_as_student(code, "Ann")
    assert teacher.metric and not teacher.exception
    with RedisStore(persistent_redis.url) as redis_store:
        [ann] = redis_store.students(code)
    stream = student.session_state[f"stream:{ann.id}"]
    persistent_redis.stop()
    stream._sink(StudentSample(code, stream.student_id, time.time() + 0.5, probs("happy")))  # buffered, not lost
    student.run()
    assert any("The storage is not answering: 1 number(s) are waiting" in w.value for w in student.warning)
    teacher.run()
    assert not teacher.exception and OUTAGE_MESSAGE in [e.value for e in teacher.error]
