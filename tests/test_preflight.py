"""fer.preflight: a broken deployment refuses to start, with one clear line per problem."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fer.preflight import run_checks

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path, model: Path, **extra) -> dict[str, str]:
    return {"CLASSMOOD_DATA_DIR": str(tmp_path / "data"), "CLASSMOOD_MODEL_PATH": str(model), **extra}


def _by_name(results):
    return {r.name: r for r in results}


def test_a_working_setup_passes_every_check(tmp_path, serving_model_path):
    results = run_checks(_env(tmp_path, serving_model_path), secrets={})
    assert [r.name for r in results] == ["configuration", "model", "detector", "store", "uploads"]
    assert all(r.ok for r in results), results


def test_streamlits_upload_limit_must_be_the_apps(tmp_path, serving_model_path):
    raised = _by_name(run_checks(_env(tmp_path, serving_model_path, CLASSMOOD_MAX_UPLOAD_MB="100"), secrets={}))
    assert not raised["uploads"].ok and "STREAMLIT_SERVER_MAX_UPLOAD_SIZE=100" in raised["uploads"].detail
    both = _by_name(run_checks(_env(tmp_path, serving_model_path, CLASSMOOD_MAX_UPLOAD_MB="100",
                                    STREAMLIT_SERVER_MAX_UPLOAD_SIZE="100"), secrets={}))
    assert both["uploads"].ok, both["uploads"]


def test_a_corrupt_model_file_fails_the_model_check_naming_the_file(tmp_path):
    bad = tmp_path / "emotion_cnn.keras"
    bad.write_bytes(b"PK\x03\x04 this is not a keras archive")
    checks = _by_name(run_checks(_env(tmp_path, bad), secrets={}))
    assert not checks["model"].ok and str(bad) in checks["model"].detail
    assert checks["store"].ok and checks["detector"].ok  # the other checks still run and report


def test_an_unusable_data_directory_fails_the_store_check(tmp_path, serving_model_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data folder should be")
    checks = _by_name(run_checks(_env(tmp_path, serving_model_path, CLASSMOOD_DATA_DIR=str(blocker / "data")), secrets={}))
    assert not checks["store"].ok and "CLASSMOOD_DATA_DIR" in checks["store"].detail


def test_a_malformed_setting_is_the_only_failure_and_names_its_variable(tmp_path, serving_model_path):
    results = run_checks(_env(tmp_path, serving_model_path, CLASSMOOD_ANALYSIS_FPS="fast"), secrets={})
    assert len(results) == 1 and not results[0].ok and "CLASSMOOD_ANALYSIS_FPS" in results[0].detail


def test_a_heroku_dyno_without_redis_refuses_to_start_and_says_why(tmp_path, serving_model_path, redis_url):
    checks = _by_name(run_checks(_env(tmp_path, serving_model_path, DYNO="web.1"), secrets={}))
    store = checks["store"]
    assert not store.ok
    assert "Heroku" in store.detail and "REDIS_URL" in store.detail and "wipes" in store.detail
    assert not (tmp_path / "data").exists()  # no SQLite file was made on the dyno's disk
    with_redis = run_checks(_env(tmp_path, serving_model_path, DYNO="web.1", REDIS_URL=redis_url), secrets={})
    assert all(r.ok for r in with_redis), with_redis


def _procfile_command() -> str:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return line.split(":", 1)[1].strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_procfile_web_process_refuses_to_start_with_a_corrupt_model(tmp_path):
    bad = tmp_path / "emotion_cnn.keras"
    bad.write_bytes(b"\x00" * 1024)
    port = _free_port()
    env = {**os.environ, **_env(tmp_path, bad), "PORT": str(port),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("REDIS_URL", None)
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", _procfile_command()], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
    assert str(bad) in done.stdout and "will not start" in done.stdout
    with pytest.raises(OSError):  # nothing serves the port: no half-broken app
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
    assert time.monotonic() - started < 180
    assert shlex.split(_procfile_command())[:4] == ["python", "-m", "fer", "preflight"]
