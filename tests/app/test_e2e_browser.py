"""End to end in a real headless Chromium: a teacher, two students with fake cameras.

The cameras play real FER-2013 faces scaled onto a photo (a .y4m file Chromium reads as its
webcam), the app runs as a real ``streamlit run`` server with its own data directory, and
the test checks what the teacher's dashboard shows. Screenshots go to test-artifacts/e2e/.
Needs Debian's ``chromium`` and the ``playwright`` Python package (no downloaded browser);
skipped with a reason when either is missing. See shared/notes/browser-webrtc-test.md.
"""

from __future__ import annotations

import time

import pytest

from browser import (
    ARTIFACTS,
    ROOT,
    AppServer,
    NoCameraFace,
    join_as,
    launch_browser,
    metrics,
    open_dashboard,
    open_room,
    require_chromium,
    shots_on_failure,
    start_camera,
    stop_camera,
    wait_for,
    write_y4m,
)
from browser import (
    camera_scene as _camera_scene,
)
from fer.classroom.samples import StudentSample
from fer.classroom.store.factory import open_store
from fer.config import AppConfig

pytestmark = pytest.mark.browser

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".y4m", ".mp4", ".webm", ".npy"}

sync_api = require_chromium()


def camera_scene(fer_split, seed: int):
    """A webcam-like frame with one real FER-2013 face that our detector finds (else a skip)."""
    try:
        return _camera_scene(fer_split, seed)
    except NoCameraFace as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def server(tmp_path_factory, serving_model_path):
    data_dir = tmp_path_factory.mktemp("e2e_data")
    server_tmp = tmp_path_factory.mktemp("e2e_server_tmp")  # the server's TMPDIR, scanned for images too
    log = tmp_path_factory.mktemp("e2e_log") / "server.log"
    with AppServer(data_dir, log, {"CLASSMOOD_MODEL_PATH": str(serving_model_path)}, tmp_dir=server_tmp) as app:
        yield app.url, data_dir, server_tmp


def test_teacher_sees_two_students_live_absence_and_nobody_from_another_room(server, fer_split, tmp_path):
    url, data_dir, server_tmp = server
    started = time.time()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cameras = []
    for i, seed in enumerate((1, 2)):
        path = tmp_path / f"camera{i}.y4m"
        write_y4m(path, camera_scene(fer_split, seed))
        cameras.append(path)

    with sync_api.sync_playwright() as p:
        teacher_browser = launch_browser(p)
        students = [launch_browser(p, c) for c in cameras]
        pages = {}
        try:
            with shots_on_failure(pages, "student"):
                # The teacher opens a room.
                teacher = teacher_browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
                code, key = open_room(teacher, url, "E2E lecture")
                teacher.screenshot(path=str(ARTIFACTS / "1-start-a-class.png"), full_page=True)

                # Someone in another room, on the same server and store, is never shown.
                store = open_store(AppConfig.from_env({"CLASSMOOD_DATA_DIR": str(data_dir)}))
                other, _ = store.create_room("Another lecture")
                intruder = store.join(other, "Intruder")
                store.record([StudentSample(other, intruder.id, time.time() + 0.1, (0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1))])

                # The teacher's dashboard is open before the students arrive, as in a lecture.
                open_dashboard(teacher, url, code, key)
                wait_for(lambda: metrics(teacher).get("Students joined") == "0", 60, "the empty dashboard", teacher, "empty")

                # Two students join with their (fake) cameras: the consent's "Start my camera" is
                # the only press each needs (the app starts the camera; ui.camera, CameraKeeper).
                ann = join_as(students[0], url, code, "Ann")
                bo = join_as(students[1], url, code, "Bo")
                pages.update(ann=ann, bo=bo)
                assert start_camera(ann) == 1
                assert start_camera(bo) == 1

                def two_present():
                    m = metrics(teacher)
                    return m.get("Present") == "2" and teacher.locator(".js-plotly-plot").count() >= 1 and m
                m = wait_for(two_present, 90, "two present students and a mood chart", teacher, "dashboard")
                assert m["Students joined"] == "2" and m["Absent"] == "0"

                # Both connections last: when Streamlit's garbage collection after every rerun starved
                # the server's event loop, aioice's consent checks timed out and it closed each
                # connection about 30 s after it connected.
                both_present = time.monotonic()
                while time.monotonic() - both_present < 40:
                    try:
                        present = metrics(teacher).get("Present")
                    except Exception:  # mid-rerender; read again
                        present = None
                    if present not in (None, "2"):
                        teacher.screenshot(path=str(ARTIFACTS / "FAILED-connection-dropped.png"), full_page=True)
                        pytest.fail(f"{present} present {time.monotonic() - both_present:.0f} s after both were: a connection dropped")
                    time.sleep(2)
                time.sleep(2)  # let the charts settle for the screenshot
                teacher.screenshot(path=str(ARTIFACTS / "2-dashboard-two-present.png"), full_page=True)
                ann.screenshot(path=str(ARTIFACTS / "3-student-ann.png"), full_page=True)
                body = teacher.locator("body").inner_text()
                assert "Ann" in body and "Bo" in body and "Intruder" not in body

                # Ann turns her camera off: she is shown absent, Bo stays present.
                stop_camera(ann)
                wait_for(lambda: metrics(teacher).get("Present") == "1", 30, "Ann shown absent", teacher, "absent")
                assert metrics(teacher)["Absent"] == "1"
                teacher.screenshot(path=str(ARTIFACTS / "4-dashboard-one-absent.png"), full_page=True)
                assert "Intruder" not in teacher.locator("body").inner_text()

                # A wrong key opens no dashboard.
                stranger = teacher_browser.new_context().new_page()
                stranger.goto(f"{url}/dashboard?room={code}")
                stranger.get_by_label("Teacher key").fill("AAAA-BBBB-CCCC-DDDD")
                stranger.get_by_role("button", name="Open").click()
                wait_for(lambda: "does not open that room" in stranger.locator("body").inner_text(), 60, "the refusal",
                         stranger, "wrong-key")
                assert stranger.locator("[data-testid='stMetric']").count() == 0
                stranger.screenshot(path=str(ARTIFACTS / "5-wrong-key.png"), full_page=True)

                # The teacher ends the lecture: Bo's page says so and its camera component is gone
                # (the server closed the connection; no media flows to a closed room).
                teacher.get_by_role("button", name="End the lecture").click()
                wait_for(lambda: "The lecture has ended" in bo.locator("body").inner_text(), 30, "Bo told the lecture ended",
                         bo, "lecture-ended")
                wait_for(lambda: len(bo.frames) == 1, 30, "Bo's camera component removed", bo, "camera-removed")
                bo.screenshot(path=str(ARTIFACTS / "6-student-lecture-ended.png"), full_page=True)
                store.close()
        finally:
            for browser in (teacher_browser, *students):
                browser.close()

    # Privacy: no image or video file was written under the data directory, the server's temporary
    # directory or the app's folder (runs/ holds training outputs, which a training job may be
    # writing meanwhile; the app never writes there).
    written = [
        path for base in (data_dir, server_tmp, ROOT) for path in base.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and path.stat().st_mtime >= started
        and ARTIFACTS not in path.parents and ROOT / "runs" not in path.parents
        and ".venv" not in path.parts and ".git" not in path.parts
    ]
    assert written == []
    assert {p.suffix for p in data_dir.rglob("*") if p.is_file()} <= {".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ""}


def test_a_reload_keeps_the_dashboard_and_no_url_ever_carries_the_key(server):
    """The teacher key is typed once; a reload (a new Streamlit session) opens the dashboard
    again from the session cookie, and no address, link or request URL holds the key."""
    url, _, _ = server
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            teacher = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
            requested: list[str] = []
            teacher.on("request", lambda request: requested.append(request.url))
            code, key = open_room(teacher, url, "Reload lecture")
            open_dashboard(teacher, url, code, key)
            assert teacher.get_by_label("Teacher key").count() == 0  # signed in by the start page's cookie
            teacher.reload()
            wait_for(lambda: metrics(teacher).get("Students joined") == "0", 60, "the dashboard after a reload", teacher, "reload")
            assert teacher.get_by_label("Teacher key").count() == 0
            hrefs = teacher.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
            for text in [teacher.url, *requested, *hrefs]:
                assert key not in text and key.replace("-", "") not in text, text
            teacher.screenshot(path=str(ARTIFACTS / "6-dashboard-after-reload.png"), full_page=True)

            # Another browser has no session: it gets the form, and the key signs it in.
            other = browser.new_context().new_page()
            other.goto(f"{url}/dashboard?room={code}")
            wait_for(lambda: other.get_by_label("Teacher key").count() == 1, 60, "the key form", other, "other-form")
            assert not metrics(other)
            open_dashboard(other, url, code, key)
            other.reload()
            wait_for(lambda: "Students joined" in metrics(other), 60, "the second browser's dashboard after a reload", other, "other-reload")

            # A new key made in the first browser ends the second one's session, its open tab
            # included (the live part checks the session every second); the first stays in.
            teacher.get_by_text("Manage the room").click()
            teacher.get_by_role("button", name="Make a new teacher key").click()
            wait_for(lambda: other.get_by_label("Teacher key").count() == 1, 30, "the key form in the other browser",
                     other, "rotated-other")
            wait_for(lambda: "Students joined" in metrics(teacher) and teacher.get_by_text("New teacher key").count(), 30,
                     "the first browser's dashboard with its new key", teacher, "rotated-mine")
        finally:
            browser.close()


def test_a_reloaded_student_resumes_with_the_camera_as_left_and_a_new_browser_sees_consent_again(server):
    """A student's reload resumes them (the resume cookie), with their camera as they left it;
    their address bar pasted into another browser starts at the name and consent steps,
    whatever it holds."""
    url, _, _ = server
    with sync_api.sync_playwright() as p:
        student_browser, other_browser = launch_browser(p), launch_browser(p)
        try:
            teacher = student_browser.new_context().new_page()
            code, _ = open_room(teacher, url, "Resume lecture")
            ann = join_as(student_browser, url, code, "Ann")
            leave = ann.get_by_role("button", name="Leave the class")
            wait_for(lambda: leave.count() == 1, 120, "the camera step", ann, "resume-camera")
            camera_on = ann.get_by_text("Camera on: your video reaches the server")
            wait_for(lambda: camera_on.count() == 1, 120, "Ann's camera on", ann, "resume-camera-on")
            ann.reload()
            wait_for(lambda: leave.count() == 1, 120, "the camera step after a reload", ann, "resume-reload")
            assert ann.get_by_text("I understand and agree").count() == 0
            # The camera comes back by itself after the reload (nobody presses anything) ...
            wait_for(lambda: camera_on.count() == 1, 120, "Ann's camera on again by itself", ann, "resume-camera-back")
            # ... and one she turned off stays off after the next.
            ann.get_by_role("button", name="Turn my camera off").click()
            turn_on = ann.get_by_role("button", name="Turn my camera on")
            wait_for(lambda: turn_on.count() == 1, 60, "Ann's camera off", ann, "resume-camera-off")
            ann.wait_for_timeout(2000)  # the page writes her choice to its cookie
            ann.reload()
            wait_for(lambda: turn_on.count() == 1, 120, "Ann's camera still off after a reload", ann, "resume-still-off")
            assert camera_on.count() == 0

            copied = ann.url  # what Ann might paste into a chat
            stranger = other_browser.new_context(permissions=["camera"]).new_page()
            stranger.goto(copied)
            name = stranger.get_by_label("Your display name (what the teacher sees)")
            wait_for(lambda: name.count() == 1, 60, "the join form", stranger, "stranger-form")
            assert stranger.get_by_role("button", name="Leave the class").count() == 0
            name.fill("Bo")
            stranger.get_by_role("button", name="Continue").click()
            wait_for(lambda: stranger.get_by_text("Before your camera starts").count() == 1, 60, "the consent step",
                     stranger, "stranger-consent")
            stranger.screenshot(path=str(ARTIFACTS / "7-new-browser-sees-consent.png"), full_page=True)
        finally:
            student_browser.close()
            other_browser.close()
