"""A real ``redis-server`` for the tests, on a free loopback port with its own folder.

The Redis store is tested against the real server, not a fake, because what matters is how
the real one behaves: Lua atomicity, float formatting, what survives a restart.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from waiting import end_process

REDIS_SERVER = shutil.which("redis-server")


def require_redis_server() -> str:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); the Redis store needs a real server")
    return REDIS_SERVER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One server process; ``persistent`` turns on an append-only file synced on every
    write, so a stop (even ``kill -9``) and a start lose nothing that was acknowledged."""

    def __init__(self, directory: Path, persistent: bool = False):
        self.binary = require_redis_server()
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        persistence = (
            # Plain-text AOF (no RDB preamble), so a test can read what is on disk.
            ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no", "--save", ""]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--logfile", str(self.directory / "redis.log"), *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{log}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop(kill=True)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 20 s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        end_process(self.process, 20, signal.SIGKILL if kill else signal.SIGTERM)
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, nothing answers, as a stalled host."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
        self.stop(kill=True)
