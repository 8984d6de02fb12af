"""What every page needs: the configuration, the store, the analyzer, links and the key check.

Heavy or shared resources are created once per process with ``st.cache_resource`` here, in
the UI layer, around the library's own constructors; the library never imports Streamlit.

pandas is imported here, before any page runs: plotly looks pandas up in ``sys.modules`` without
importing it, so a dashboard drawn while another session's thread was still importing pandas
failed with "partially initialized module 'pandas'". Every page imports this module first.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import pandas  # noqa: F401  (see below)
import streamlit as st

from fer.classroom.store.base import StorageUnavailableError, Store
from fer.classroom.store.factory import open_store
from fer.config import AppConfig, ConfigError

log = logging.getLogger(__name__)

#: What a visitor reads when the storage does not answer: what happened and what to do, and
#: none of the error's details (they go to the server's log, for the operator).
OUTAGE_MESSAGE = (
    "ClassMood cannot reach its storage right now, so this page cannot be shown. Nothing is lost on "
    "your side: try again in a minute. If it lasts, tell whoever runs ClassMood at your school."
)

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
    purge_if_due()
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


def outage(error: Exception) -> None:
    """Stop the page (or fragment) with :data:`OUTAGE_MESSAGE`; the details go to the log."""
    log.warning("storage unavailable: %s", error)
    st.error(OUTAGE_MESSAGE, icon="🛑")
    st.stop()


class _PageStore:
    """The store as pages use it: a store outage in any call becomes :data:`OUTAGE_MESSAGE`
    and stops the page, so no page shows a traceback or half a dashboard. ``record`` goes
    straight through: it runs on video threads, where the stream reports failures itself."""

    def __init__(self, store: Store):
        self.raw = store

    def __getattr__(self, name: str):
        attribute = getattr(self.raw, name)
        if name in ("record", "record_sample") or not callable(attribute):
            return attribute

        def guarded(*args, **kwargs):
            try:
                return attribute(*args, **kwargs)
            except StorageUnavailableError as error:
                outage(error)

        return guarded


#: Expired lectures are erased at most this often, by whichever page runs first after it.
PURGE_EVERY_S = 3600.0
_purge_lock = threading.Lock()
_purged_at = [-float("inf")]


def _purge(raw: Store) -> None:
    """The hourly retention purge (:meth:`Store.purge_expired`), run by the first page view of
    each hour in this process; with Redis, the keys' TTLs erase data even with no visitor."""
    if time.monotonic() - _purged_at[0] < PURGE_EVERY_S or not _purge_lock.acquire(blocking=False):
        return
    try:
        _purged_at[0] = time.monotonic()
        codes = raw.purge_expired()
        if codes:
            log.info("retention: erased %d expired lecture(s)", len(codes))
    except Exception as error:  # the page must not fail for the purge; it runs again next hour
        log.warning("retention purge failed: %s", error)
    finally:
        _purge_lock.release()


def purge_if_due() -> None:
    """Run the hourly purge from any page (every page draws the sidebar); a store that
    cannot be opened is left to the pages that need it, which say so."""
    cfg = config()
    try:
        raw = _store(str(cfg.data_dir), cfg.redis_url)
    except Exception:
        return
    _purge(raw)


def store() -> Store:
    """The process-wide store (one SQLite connection per thread inside it), guarded: an outage
    becomes a clear message on the page. Use :func:`raw_store` for video threads' sinks."""
    return _PageStore(raw_store())  # type: ignore[return-value]


def raw_store() -> Store:
    """The store itself; only opening it is guarded."""
    cfg = config()
    try:
        raw = _store(str(cfg.data_dir), cfg.redis_url)
    except StorageUnavailableError as error:
        outage(error)
    _purge(raw)
    return raw


def storage_notice() -> None:
    """A warning while students' numbers wait in the write-behind buffer (Redis is down):
    the live view is then behind, and numbers may be lost if the outage outlasts the buffer."""
    from fer.classroom.store.buffer import BufferedStore

    raw = raw_store()
    if isinstance(raw, BufferedStore):
        status = raw.status()
        if not status.online:
            st.warning(
                f"The storage is not answering: {status.pending} number(s) are waiting to be saved"
                + (f" and {status.dropped} were lost" if status.dropped else "")
                + ". The class view is behind until it is back.",
                icon="⏳",
            )


def limiter():
    """The rate limiter of :mod:`fer.classroom.ratelimit`, counting in the store."""
    from fer.classroom.ratelimit import RateLimiter

    return RateLimiter(raw_store(), config())


def client() -> str:
    """The visitor's address for rate limits (``X-Forwarded-For`` only behind a trusted proxy)."""
    from fer.classroom.ratelimit import client_address

    try:
        peer = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # no request (a page tested alone)
        peer, forwarded = None, None
    # Streamlit gives None for a loopback peer (a proxy on this host); outside a real request
    # (AppTest) these are placeholders, not text.
    peer = "127.0.0.1" if peer is None else peer if isinstance(peer, str) else None
    forwarded = forwarded if isinstance(forwarded, str) else None
    return client_address(peer, forwarded, config().trusted_proxies)


def cookie(name: str) -> str:
    """A cookie the browser sent with this session's connection ('' when none)."""
    try:
        value = st.context.cookies.get(name)
    except Exception:
        value = None
    return value if isinstance(value, str) else ""


def set_cookie(name: str, value: str, max_age_s: float) -> None:
    """Set (``max_age_s > 0``) or clear a cookie in the visitor's browser.

    Streamlit answers over a websocket and cannot send ``Set-Cookie``, so a one-line script
    sets it; the next page load sends it back (:func:`cookie`). ``SameSite=Strict`` keeps
    other sites from riding on it, ``Secure`` is added on https. Call it on every run while
    the value holds: a script sent just before a rerun may never run.
    """
    attributes = f"; Path=/; Max-Age={max(0, int(max_age_s))}; SameSite=Strict"
    st.html(
        "<script>document.cookie = " + json.dumps(f"{name}={value}{attributes}")
        + " + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def ai_act_note() -> None:
    """The legal limit, on every page a teacher or student starts from."""
    st.warning(
        "**Legal limits.** The EU AI Act (Regulation 2024/1689, Art. 5(1)(f)) has prohibited AI systems "
        "that infer emotions of natural persons in education institutions in the EU since "
        "2 February 2025. Do not use ClassMood for teaching in the EU, and check the law where you teach.",
        icon="⚖️",
    )


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


def new_analyzer(media: bool = False):
    """A fresh analyzer for one stream (tracking state is per stream; the model is shared).

    ``media``: for an upload on the "Analyze media" page, whose photos and recordings of a whole
    class have smaller faces than a student's webcam (``AppConfig.media_analyzer_options``).
    """
    from fer.errors import FerError
    from fer.vision.pipeline import FrameAnalyzer

    cfg = config()
    try:
        warm_model(str(cfg.model_path), cfg.detector)
    except FerError as error:
        st.error(f"The emotion model cannot be loaded, so nothing can be analyzed: {error}")
        st.stop()
    return FrameAnalyzer(cfg.media_analyzer_options() if media else cfg.analyzer_options())


def analysis_gate():
    """The process-wide fair queue for analyses (:mod:`fer.classroom.governor`), shared by all students."""
    from fer.classroom.governor import shared_gate

    return shared_gate(config().analysis_slots or None)


def upload_gate():
    """The process-wide one-at-a-time queue of uploads (:func:`fer.classroom.governor.shared_upload_gate`)."""
    from fer.classroom.governor import shared_upload_gate

    return shared_upload_gate()


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
