"""Check everything the web app needs before its server starts, and refuse to start if not.

    python -m fer preflight && streamlit run streamlit_app.py ...

Why: Streamlit starts and answers its health check even when the emotion model is corrupt
or the data directory is read-only; the first student to join would find out, mid-lecture.
The start commands (``Procfile``, the ``Dockerfile``, ``make run``) run this first, so a
broken deployment fails at once with one clear line per problem and a non-zero exit code
(Docker restarts nothing healthy, Heroku shows the message in its log), instead of starting
half-broken. Each check uses the same code the app uses: the configuration from the
environment and Streamlit secrets, the model through :func:`fer.vision.classify.load_model` with a
test prediction, the configured detector on a blank frame, the store opened and closed, and
Streamlit's upload limit against the app's.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from fer.config import AppConfig
from fer.errors import FerError


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


def streamlit_secrets(cwd: Path | None = None) -> dict[str, Any]:
    """The settings Streamlit would read from ``secrets.toml`` (project first, then home)."""
    import tomllib

    merged: dict[str, Any] = {}
    for path in (Path.home() / ".streamlit" / "secrets.toml", (cwd or Path.cwd()) / ".streamlit" / "secrets.toml"):
        if path.is_file():
            try:
                merged.update(tomllib.loads(path.read_text()))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise FerError(f"{path}: not a readable TOML secrets file ({exc})") from None
    return merged


def _check_model(cfg: AppConfig, environ: Mapping[str, str]) -> str:
    from fer.vision.classify import load_model

    loaded = load_model(cfg.model_path)
    probs = np.asarray(loaded.predict(np.full((2, 48, 48, 1), 128.0, np.float32)))
    if probs.shape != (2, 7) or not np.all(np.isfinite(probs)) or not np.allclose(probs.sum(1), 1.0, atol=1e-3):
        raise FerError(f"{cfg.model_path}: the model loads but does not output probabilities (got {probs[:1]})")
    return f"{loaded.path} loads and predicts ({loaded.backend})"


def _check_detector(cfg: AppConfig, environ: Mapping[str, str]) -> str:
    from fer.vision.detect import make_detector

    make_detector(cfg.detector).detect(np.zeros((120, 160, 3), np.uint8))
    return f"{cfg.detector} detector ready"


def _check_store(cfg: AppConfig, environ: Mapping[str, str]) -> str:
    from fer.classroom.store.factory import open_store

    if environ.get("DYNO") and cfg.redis_url is None:
        raise FerError(
            f"this is a Heroku dyno ({environ['DYNO'][:20]}) and REDIS_URL is not set: the SQLite file would lie on "
            "the dyno's own disk, which Heroku wipes at every restart (at least daily) and deploy, so rooms and "
            "their history would vanish mid-term. Add a Redis add-on (heroku addons:create heroku-redis), "
            "which sets REDIS_URL"
        )

    store = open_store(cfg)
    try:
        return f"store ready ({'Redis' if cfg.redis_url else cfg.db_path})"
    finally:
        store.close()


def streamlit_upload_mb(environ: Mapping[str, str], cwd: Path | None = None) -> float:
    """The upload limit Streamlit will apply (MB): its environment variable, else ``server.maxUploadSize``
    of the project's then the home ``config.toml``, else Streamlit's default of 200."""
    import tomllib

    if environ.get("STREAMLIT_SERVER_MAX_UPLOAD_SIZE", "").strip():
        return float(environ["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"])
    for path in ((cwd or Path.cwd()) / ".streamlit" / "config.toml", Path.home() / ".streamlit" / "config.toml"):
        if path.is_file():
            try:
                value = tomllib.loads(path.read_text()).get("server", {}).get("maxUploadSize")
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise FerError(f"{path}: not a readable TOML config file ({exc})") from None
            if value is not None:
                return float(value)
    return 200.0


def _check_uploads(cfg: AppConfig, environ: Mapping[str, str]) -> str:
    """Streamlit's limit must be the app's: larger, it holds bodies the app then refuses in memory;
    smaller, it refuses files the page says it takes."""
    streamlit = streamlit_upload_mb(environ)
    if streamlit != math.ceil(cfg.max_upload_mb):
        raise FerError(
            f"Streamlit accepts uploads up to {streamlit:g} MB (server.maxUploadSize) but CLASSMOOD_MAX_UPLOAD_MB is "
            f"{cfg.max_upload_mb:g}: set STREAMLIT_SERVER_MAX_UPLOAD_SIZE={math.ceil(cfg.max_upload_mb)}"
        )
    return f"uploads up to {cfg.max_upload_mb:g} MB, analyze page access: {cfg.analyze_access}"


CHECKS: dict[str, Callable[[AppConfig, Mapping[str, str]], str]] = {
    "model": _check_model,
    "detector": _check_detector,
    "store": _check_store,
    "uploads": _check_uploads,
}


def run_checks(environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Every check, in order; a bad configuration is the first (and then only) failure."""
    start = time.perf_counter()
    environ = os.environ if environ is None else environ
    try:
        cfg = AppConfig.from_env(environ,
                                 streamlit_secrets() if secrets is None else secrets)
    except FerError as exc:
        return [CheckResult("configuration", False, str(exc), time.perf_counter() - start)]
    results = [CheckResult("configuration", True, "settings parsed", time.perf_counter() - start)]
    for name, check in CHECKS.items():
        start = time.perf_counter()
        try:
            detail, ok = check(cfg, environ), True
        except FerError as exc:
            detail, ok = str(exc), False
        except Exception as exc:  # an unexpected failure is still a reason not to start
            detail, ok = f"{type(exc).__name__}: {exc}", False
        results.append(CheckResult(name, ok, detail, time.perf_counter() - start))
    return results


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = run_checks()
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        print(f"ClassMood preflight {mark} {result.name:<13} {result.detail}", flush=True)
    if all(r.ok for r in results):
        return 0
    print("ClassMood will not start until the problems above are fixed.", flush=True)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
