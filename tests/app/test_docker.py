"""The production image builds, runs as a non-root user and answers Streamlit's health check.

It needs a Docker daemon and is skipped, with the reason, where there is none. Where no
image registry is reachable (``python:3.11-slim`` cannot be pulled), the base comes from
``scripts/docker_local_base.py`` (Debian packages through debootstrap). Building installs
requirements.txt into the image, so this takes minutes; it runs with everything else
because a Dockerfile nobody builds breaks silently.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from docker_stack import app_base, docker, require_daemon

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image():
    require_daemon()
    base, made = app_base()
    tag = f"classmood-test:{uuid.uuid4().hex[:12]}"
    try:
        docker("build", "--network", "host", "--build-arg", f"BASE={base}", "-t", tag, str(ROOT), timeout=1800)
        yield tag
    finally:
        docker("rmi", "-f", tag, check=False)
        for image_id in made:
            docker("rmi", "-f", image_id, check=False)


def test_the_image_answers_the_health_check_as_a_non_root_user(image):
    from redis_server import free_port

    port = free_port()
    name = f"classmood-test-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}",
        # The Dockerfile's check every 2 s instead of 30 s, so the test need not wait long.
        "--health-interval", "2s", "--health-start-period", "120s", image,
    )
    try:
        body, deadline = None, time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    body = reply.read().decode()
                    break
            except OSError:
                time.sleep(1)
        logs = docker("logs", name, check=False)
        assert body == "ok", f"no health answer on port {port}:\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}"
        health = None
        while time.monotonic() < deadline:  # Docker's own HEALTHCHECK (python, no curl) agrees
            health = json.loads(docker("inspect", "--format", "{{json .State.Health}}", name).stdout)
            if health["Status"] == "healthy":
                break
            time.sleep(1)
        assert health["Status"] == "healthy", health
        assert docker("exec", name, "id", "-u").stdout.strip() != "0"
        # What .dockerignore keeps out is not in the image.
        listing = docker("exec", name, "ls", "-a", "/app").stdout.split()
        assert "streamlit_app.py" in listing and "fer" in listing
        assert not {".git", ".venv", "runs", "tests", "data"} & set(listing)
    finally:
        docker("rm", "-f", name, check=False)
