"""Driving ClassMood's pages headless with streamlit.testing.v1.AppTest, as visitors would.

Shared by tests/app/test_app_pages.py and tests/app/test_attacks.py: opening a page with
query parameters, the text a visitor reads, signing a teacher in through the key form, and a
recording stand-in for the camera component (the real one needs a browser, see
tests/app/test_e2e_browser.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import streamlit_webrtc
from streamlit.testing.v1 import AppTest

from fer.emotions import EMOTIONS

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "pages"


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def all_text(at: AppTest) -> str:
    """What the visitor reads: visitor text is markdown-escaped (ui.common.plain), the
    escapes are not part of what is shown."""
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [i.value for i in at.info] + [s.value for s in at.success] + [c.value for c in at.caption]
    parts += [c.value for c in at.code]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


def sign_in(at: AppTest, code: str, key: str) -> AppTest:
    """Type the room code and teacher key into the gate's form, as a teacher does."""
    next(t for t in at.text_input if t.label == "Room code").set_value(code)
    next(t for t in at.text_input if t.label == "Teacher key").set_value(key)
    next(b for b in at.button if b.label == "Open").click()
    return at.run()


def teacher_page(name: str, code: str, key: str) -> AppTest:
    """A teacher page opened with ``?room=`` and signed in through its form."""
    return sign_in(page(name, room=code).run(), code, key)


def join_as_student(code: str, name: str) -> AppTest:
    """A student in a fresh browser: room code, display name, consent, camera."""
    at = page("2_join.py", room=code).run()
    at.text_input[1].input(name)
    at.button[0].click().run()
    at.checkbox[0].check().run()
    next(b for b in at.button if b.label == "Start my camera").click().run()
    return at


def probs(label: str) -> tuple[float, ...]:
    p = np.full(len(EMOTIONS), 0.02)
    p[EMOTIONS.index(label)] = 1 - 0.02 * (len(EMOTIONS) - 1)
    return tuple(p)


@pytest.fixture
def fake_camera(monkeypatch):
    """Records webrtc_streamer calls: the real component needs a browser (see test_e2e)."""
    calls: list[dict] = []

    def webrtc_streamer(key, **kwargs):
        calls.append({"key": key, **kwargs})

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", webrtc_streamer)
    return calls
