"""What every page needs: the configuration, the store, the analyzer, links and the key check.

Heavy or shared resources are created once per process with ``st.cache_resource`` here, in
the UI layer, around the library's own constructors; the library never imports Streamlit.
"""

from __future__ import annotations

import gc
import os
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from fer.config import AppConfig, ConfigError
from fer.classroom.store.base import Store
from fer.classroom.store.factory import open_store

ROOT = Path(__file__).resolve().parent.parent

#: Each page by its URL path (the file name without its order prefix); links are built from these.
PAGES = {
    "start": "pages/1_start.py",
    "join": "pages/2_join.py",
    "dashboard": "pages/3_dashboard.py",
    "report": "pages/4_report.py",
    "analyze": "pages/5_analyze.py",
    "model": "pages/6_model.py",
}


#: What the sidebar calls each page, in its order.
NAV_LABELS = {
    "start": ("Start a class", "🧑‍🏫"),
    "join": ("Join a class", "🎓"),
    "dashboard": ("Teacher dashboard", "📊"),
    "report": ("Session report", "📄"),
    "analyze": ("Analyze a photo or video", "🎞️"),
    "model": ("About the model", "ℹ️"),
}


def sidebar() -> None:
    """The page list under readable names (Streamlit's own list shows file names, hidden in
    .streamlit/config.toml). Called by every page; silent where a page runs on its own."""
    with st.sidebar:
        try:
            st.page_link("streamlit_app.py", label="ClassMood", icon="🏠")
            for page, (label, icon) in NAV_LABELS.items():
                st.page_link(PAGES[page], label=label, icon=icon)
        except Exception:  # no navigation context (a page tested alone): nothing to link
            return


def _secrets() -> dict:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml is the normal case
        return {}


@st.cache_resource(show_spinner=False)
def _config(fingerprint: tuple) -> AppConfig:
    return AppConfig.from_env(os.environ, _secrets())


def config() -> AppConfig:
    """The app's settings; a malformed setting stops the page with the variable's name."""
    fingerprint = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("CLASSMOOD_") or k == "REDIS_URL"))
    try:
        return _config(fingerprint)
    except ConfigError as error:
        st.error(f"ClassMood is misconfigured: {error}")
        st.stop()


@st.cache_resource(show_spinner=False)
def _store(data_dir: str, redis_url: str | None) -> Store:
    return open_store(config())


def store() -> Store:
    """The process-wide store (one SQLite connection per thread inside it)."""
    cfg = config()
    try:
        return _store(str(cfg.data_dir), cfg.redis_url)
    except Exception as error:  # StorageUnavailableError and the like: nothing works without it
        st.error(f"The ClassMood database cannot be opened: {error}")
        st.stop()


@st.cache_resource(show_spinner="Loading the emotion model (once per server)…")
def warm_model(model_path: str, detector: str) -> str:
    """Load the model and detector once per process so the first student does not wait.

    The library caches them too (``fer.resources``); this wrapper only makes the first load
    happen at a moment the page can show a spinner, and surfaces a missing model early.
    """
    from fer.vision.pipeline import FrameAnalyzer

    FrameAnalyzer(model_path=model_path, detector=detector).load()
    freeze_loaded_objects()
    return model_path


def freeze_loaded_objects() -> None:
    """Take what is loaded for the whole process (TensorFlow, Keras, the model) out of the GC's scans.

    After every script run, so every second in each student's and teacher's ``run_every``
    fragment, Streamlit calls ``gc.collect(2)`` and, once Keras is imported,
    ``keras.backend.clear_session()``, which collects again. With TensorFlow loaded each
    collection walks about half a million objects: 0.2-0.9 s holding the GIL per rerun per
    session. With two students the server's asyncio loop, which runs WebRTC, lagged by
    seconds: ICE took up to a minute and aioice, whose consent checks wait 0.5 s once,
    closed each connection about 30 s after it connected. Frozen objects are never freed,
    which is what modules and a model kept for the process's lifetime need anyway.
    """
    gc.collect()
    gc.freeze()


def new_analyzer():
    """A fresh analyzer for one stream (tracking state is per stream; the model is shared)."""
    from fer.vision.pipeline import FrameAnalyzer

    from fer.errors import FerError

    cfg = config()
    try:
        warm_model(str(cfg.model_path), cfg.detector)
    except FerError as error:
        st.error(f"The emotion model cannot be loaded, so nothing can be analyzed: {error}")
        st.stop()
    return FrameAnalyzer(cfg.analyzer_options())


def analysis_gate():
    """The process-wide fair queue for analyses (:mod:`fer.classroom.governor`), shared by all students."""
    from fer.classroom.governor import shared_gate

    return shared_gate(config().analysis_slots or None)


def page_url(page: str, **params: str) -> str:
    """An absolute link to one of our pages when the browser's URL is known, else relative.

    Join links are read aloud, pasted into chats and opened on other devices, so they must
    carry the host the teacher is using.
    """
    path = "/" + page
    query = urlencode(params)
    try:
        current = st.context.url
    except Exception:
        current = None
    if current:
        parts = urlsplit(current)
        base = parts.path.rsplit("/", 1)[0] if parts.path.rsplit("/", 1)[-1] in PAGES else parts.path.rstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, base + path, query, ""))
    return f"{path}?{query}" if query else path


def link(page: str, label: str, icon: str | None = None, **params: str) -> None:
    """A link to one of our pages that keeps the session (st.page_link), or a plain link
    when the page runs on its own (tests, or a page opened outside the navigation)."""
    try:
        st.page_link(PAGES[page], label=label, icon=icon, query_params=params or None)
    except Exception:
        st.markdown(f"[{label}]({page_url(page, **params)})")


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def plain(text: str) -> str:
    """``text`` escaped so that ``st.error``/``st.info``/captions show it as written.

    Those elements render Markdown, and messages here quote file names visitors chose: a name
    like ``[x](http://...)`` or ``**bold**`` must stay text, never become a link or formatting.
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(str(text).split()))


def query_param(name: str) -> str:
    value = st.query_params.get(name, "")
    return value if isinstance(value, str) else ""
