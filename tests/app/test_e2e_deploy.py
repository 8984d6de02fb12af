"""End to end as deployed: several app processes on one Redis, and a student whose browser dies.

Like test_e2e_browser.py these run real ``streamlit run`` servers and real headless Debian
Chromium with fake cameras playing FER-2013 faces (helpers in tests/browser.py), and judge
what the teacher's dashboard shows. Screenshots go to test-artifacts/e2e/. Skipped with a
reason when chromium, playwright or (for the Redis test) redis-server is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from browser import (
    ARTIFACTS,
    AppServer,
    NoCameraFace,
    browser_pids,
    camera_scene,
    join_as,
    kill_browser,
    launch_browser,
    metrics,
    open_dashboard,
    open_room,
    require_chromium,
    shots_on_failure,
    start_camera,
    wait_for,
    write_y4m,
)
from fer.classroom.store.factory import open_store
from fer.config import AppConfig

pytestmark = pytest.mark.browser

sync_api = require_chromium()

WORKER_STOPPED = "no frame from student {} for {:.0f} s: stopping its worker"

SAMPLE_INTERVAL_S = 1.0  # CLASSMOOD_SAMPLE_INTERVAL_S's default, which this test keeps


def camera(fer_split, seed: int, path: Path) -> Path:
    try:
        write_y4m(path, camera_scene(fer_split, seed))
    except NoCameraFace as error:
        pytest.skip(str(error))
    return path


def dashboard(teacher, url: str, code: str, key: str) -> None:
    open_dashboard(teacher, url, code, key)
    wait_for(lambda: metrics(teacher).get("Students joined") == "0", 60, "the empty dashboard", teacher, "deploy-empty")


def test_students_on_two_app_processes_appear_on_one_dashboard(redis_url, serving_model_path, fer_split, tmp_path):
    """Two app hosts behind a load balancer share one Redis: a student on either is on the
    teacher's dashboard, whichever host serves the teacher."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cameras = [camera(fer_split, seed, tmp_path / f"camera{seed}.y4m") for seed in (1, 2)]
    env = {"REDIS_URL": redis_url, "CLASSMOOD_MODEL_PATH": str(serving_model_path)}
    with AppServer(tmp_path / "data_a", tmp_path / "server_a.log", env) as host_a, \
            AppServer(tmp_path / "data_b", tmp_path / "server_b.log", env) as host_b, \
            sync_api.sync_playwright() as p:
        teacher_browser = launch_browser(p)
        students = [launch_browser(p, c) for c in cameras]
        pages = {}
        try:
            with shots_on_failure(pages, "deploy-student"):
                teacher = teacher_browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
                code, key = open_room(teacher, host_a.url, "Two hosts lecture")
                dashboard(teacher, host_a.url, code, key)

                # Ann is served by host A, Bo by host B.
                pages["ann"] = join_as(students[0], host_a.url, code, "Ann")
                pages["bo"] = join_as(students[1], host_b.url, code, "Bo")
                start_camera(pages["ann"])
                start_camera(pages["bo"])

                def two_present():
                    m = metrics(teacher)
                    return m.get("Present") == "2" and teacher.locator(".js-plotly-plot").count() >= 1 and m

                m = wait_for(two_present, 120, "two present students (one per host) and a mood chart", teacher, "two-hosts")
                assert m["Students joined"] == "2" and m["Absent"] == "0"
                time.sleep(2)  # let the charts settle for the screenshot
                teacher.screenshot(path=str(ARTIFACTS / "deploy-1-two-hosts-one-dashboard.png"), full_page=True)
                body = teacher.locator("body").inner_text()
                assert "Ann" in body and "Bo" in body
        finally:
            for browser in (teacher_browser, *students):
                browser.close()

    # Both hosts kept everything in Redis: neither wrote a SQLite database of its own.
    for data_dir in (tmp_path / "data_a", tmp_path / "data_b"):
        assert not data_dir.exists() or not list(data_dir.rglob("*.sqlite3*"))


def test_a_killed_student_tab_is_marked_absent_and_its_worker_ends(serving_model_path, fer_split, tmp_path):
    """A browser that dies (crash, killed laptop, lost Wi-Fi) never says goodbye: no STOP, no
    Leave, no WebRTC close. The dashboard must still show the student absent, and the server
    must end that student's analysis worker on its own instead of keeping it forever."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    idle_stop_s, presence_timeout_s = 4.0, 6.0
    cam = camera(fer_split, 3, tmp_path / "camera.y4m")
    data_dir = tmp_path / "data"
    env = {
        "CLASSMOOD_MODEL_PATH": str(serving_model_path),
        "CLASSMOOD_IDLE_STOP_S": str(idle_stop_s),
        "CLASSMOOD_PRESENCE_TIMEOUT_S": str(presence_timeout_s),
    }
    with AppServer(data_dir, tmp_path / "server.log", env) as host, sync_api.sync_playwright() as p:
        teacher_browser = launch_browser(p)
        student_browser = launch_browser(p, cam)
        pages = {}
        try:
            with shots_on_failure(pages, "deploy-student"):
                teacher = teacher_browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
                code, key = open_room(teacher, host.url, "Crash lecture")
                dashboard(teacher, host.url, code, key)
                student = pages["cy"] = join_as(student_browser, host.url, code, "Cy")
                start_camera(student)
                with open_store(AppConfig.from_env({"CLASSMOOD_DATA_DIR": str(data_dir)})) as store:
                    (student_id,) = [s.id for s in store.students(code)]
                wait_for(lambda: metrics(teacher).get("Present") == "1", 90, "Cy present", teacher, "crash-present")
                time.sleep(2)  # a few samples more: the worker is running steadily
                assert "stopping its worker" not in host.log_text()
                teacher.screenshot(path=str(ARTIFACTS / "deploy-2-before-the-crash.png"), full_page=True)

                # The student's whole browser dies at once.
                killed_at = time.monotonic()
                killed = kill_browser(cam)
                pages.clear()  # nothing left to photograph
                assert killed
                # SIGKILL is delivered asynchronously: give the kernel a moment to end the process.
                wait_for(lambda: not browser_pids(cam), 10, "the killed Chromium to be gone", poll=0.1)

                line = WORKER_STOPPED.format(student_id, idle_stop_s)
                try:
                    wait_for(lambda: line in host.log_text(), idle_stop_s + 10, f"the server log line {line!r}", poll=0.25)
                except AssertionError:
                    host.dump_threads()  # what the worker is doing instead, in the server's log
                    raise AssertionError(f"no {line!r} in {host.log_path}; thread stacks are there too") from None
                worker_stopped_after = time.monotonic() - killed_at

                def absent():
                    m = metrics(teacher)
                    return m.get("Present") == "0" and m.get("Absent") == "1" and m
                wait_for(absent, presence_timeout_s + 15, "Cy shown absent", teacher, "crash-absent")
                shown_absent_after = time.monotonic() - killed_at
                teacher.screenshot(path=str(ARTIFACTS / "deploy-3-killed-student-absent.png"), full_page=True)
        finally:
            teacher_browser.close()
            try:
                student_browser.close()
            except Exception:  # already killed
                pass

    print(f"worker stopped {worker_stopped_after:.1f} s, dashboard absent {shown_absent_after:.1f} s after the kill")
    assert idle_stop_s <= worker_stopped_after <= idle_stop_s + 10, worker_stopped_after
    assert shown_absent_after <= presence_timeout_s + 15, shown_absent_after
    # The worker's last act was its stop path's explicit "no face" sample, sent when no frame
    # had come for idle_stop_s. Frames the browser sent before it died may still be decoded
    # and analyzed after the kill on a loaded machine, so the property is about the server's
    # own times: no sample with a face was made from an interval after the last frame came.
    with open_store(AppConfig.from_env({"CLASSMOOD_DATA_DIR": str(data_dir)})) as store:
        samples = store.samples(code, student_id=student_id)
    assert samples and samples[-1].probs is None, samples[-3:]
    stopped_at = samples[-1].time
    last_frame_by = stopped_at - idle_stop_s  # the worker stops idle_stop_s after its last frame
    late = [s for s in samples[:-1] if s.probs is not None and s.time > last_frame_by + SAMPLE_INTERVAL_S + 1.0]
    assert late == [], (late, stopped_at)
