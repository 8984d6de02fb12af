"""Waiting on other threads in tests: every wait has a deadline, and none is an assertion on speed.

The deadline is there so that a broken worker fails the test instead of hanging CI; it is
generous because a loaded CI machine may be slow, and no test passes or fails by how fast
something happened within it.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float = 20.0, what: str = "the condition", poll_s: float = 0.005) -> T:
    """Return ``predicate()``'s first truthy value; fail the test after ``timeout_s`` without one."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def end_process(process, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Ask a child server to stop (``sig``), and kill it if it is still there after ``timeout_s``:
    a server that ignores its signal must not outlive the test or hang it."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
