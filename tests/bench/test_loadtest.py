"""The load test drives real StudentStreams into a real SQLite store: a 3-second smoke run."""

from __future__ import annotations

import math

import pytest

from fer.config import AppConfig


@pytest.fixture(scope="module")
def frames(dataset_path):
    from fer.bench.loadtest import make_frames

    return make_frames(count=2)


def test_two_students_store_samples_and_figures_are_consistent(frames):
    if not AppConfig().model_path.exists():
        pytest.skip("no trained emotion model at AppConfig().model_path")
    from fer.bench.loadtest import run_load

    row = run_load(2, 3.0, frames=frames)

    assert row.students == 2
    assert row.samples_min >= 1  # both students had samples stored
    assert row.samples_per_student_s > 0
    assert row.errors == 0
    assert 0 < row.latency_p50_ms <= row.latency_p95_ms
    assert 0 < row.analyzed_fps_min <= row.analyzed_fps_mean
    # Analysis is rate limited: never more than analysis_fps (+1 frame for the fencepost).
    assert row.analyzed_fps_mean <= AppConfig().analysis_fps + 1 / row.seconds + 0.01
    assert 0 < row.frames_analyzed < row.frames_in
    assert math.isclose(row.dropped_share, 1 - row.frames_analyzed / row.frames_in)
    assert 0 < row.dropped_share < 1
    assert row.cpu_percent > 0
    assert row.rss_mb > 0
    assert f"| {row.students} |" in row.markdown()


def test_an_upload_analyzed_during_the_run_is_reported_beside_what_the_students_got(frames):
    if not AppConfig().model_path.exists():
        pytest.skip("no trained emotion model at AppConfig().model_path")
    from fer.bench.loadtest import UPLOAD_HEADER, make_upload_video, run_load

    video = make_upload_video(frames, seconds=3.0, fps=10, size=(320, 240))
    row = run_load(2, 2.0, frames=frames, upload=("clip.mp4", video))

    up = row.upload
    assert up is not None and up.error is None, up
    assert up.frames_decoded == 30 and up.frames_analyzed == 6 and up.stopped is None  # 3 s at media_fps 2
    assert row.seconds >= up.seconds > 0
    # The upload's analysis may take less than a third of a second here, a window in which a
    # student analyzed at 3 fps can have no turn: the run as a whole must have served them.
    assert 0 <= up.student_fps_min <= up.student_fps_mean
    assert row.analyzed_fps_min > 0
    assert row.errors == 0
    assert up.markdown(2).count("|") == UPLOAD_HEADER.splitlines()[0].count("|")


def test_the_capacity_projection_adds_what_a_real_browser_costs_per_student():
    from fer.bench.loadtest import projected_capacity

    # 30 simulated students at 90 % of a core: 3 % each, 66 on two cores.
    assert projected_capacity(90.0, 30, 2) == 66
    # With 2 % of a core more for each real browser connection: 5 % each, 40 on two cores.
    assert projected_capacity(90.0, 30, 2, webrtc_percent=2.0) == 40
    assert projected_capacity(0.0, 5, 2) == 0  # an idle run projects nothing, not infinity
