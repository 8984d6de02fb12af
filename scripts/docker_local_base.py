"""Make a local Python 3.11 base image for the Dockerfile where no image registry is reachable.

``docker build`` normally pulls ``python:3.11-slim``. On a machine that reaches Debian's
package mirror but no image registry, this builds an equivalent base from Debian packages
(debootstrap, bookworm, whose python3 is 3.11) and prints its tag, to pass on as
``docker build --build-arg BASE=<tag> .``. When ``--trust-host-ca`` is given, a second
layer adds the host's certificate bundle, for hosts whose downloads pass through a
certificate authority only the host trusts; the production Dockerfile stays free of it.

Usage: ``python scripts/docker_local_base.py [--trust-host-ca]`` (root, docker and
debootstrap needed). An image already present is reused.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_TAG = "classmood-base:bookworm"
CA_TAG = "classmood-base:bookworm-host-ca"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
MIRROR = "http://deb.debian.org/debian"


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def build_base() -> str:
    if image_exists(BASE_TAG):
        return BASE_TAG
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: apt-get install -y debootstrap")
    with tempfile.TemporaryDirectory(prefix="classmood-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
             "bookworm", str(rootfs), MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", BASE_TAG], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise SystemExit("tar of the debootstrap folder failed")
    return BASE_TAG


def build_host_ca_base(base: str) -> str:
    if image_exists(CA_TAG):
        return CA_TAG
    with tempfile.TemporaryDirectory(prefix="classmood-ca-") as tmp:
        shutil.copy(HOST_CA, Path(tmp) / "host-ca.crt")
        (Path(tmp) / "Dockerfile").write_text(
            f"FROM {base}\n"
            "COPY host-ca.crt /usr/local/share/ca-certificates/host-ca.crt\n"
            "RUN update-ca-certificates\n"
            # pip uses its own bundle unless told otherwise.
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt\n"
        )
        subprocess.run(["docker", "build", "-q", "-t", CA_TAG, tmp], check=True, stdout=subprocess.DEVNULL)
    return CA_TAG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust-host-ca", action="store_true", help=f"also trust the host's {HOST_CA}")
    args = parser.parse_args(argv)
    tag = build_base()
    if args.trust_host_ca:
        tag = build_host_ca_base(tag)
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
