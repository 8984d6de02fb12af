"""ClassMood's settings, in one place: a frozen dataclass filled from the environment.

Every tunable of the web app lives here so that an operator changes behaviour without
editing code, and so that a wrong value stops the app at start-up with a message naming the
variable, instead of surfacing later as a confusing failure deep inside a video thread.

Values come from environment variables (``CLASSMOOD_*`` and ``REDIS_URL``) and, optionally,
from a mapping the UI passes in (Streamlit's ``st.secrets``) using the same names. The
environment wins, so an operator can override a deployed secrets file for one run. An empty
value counts as unset, which is what ``VAR=`` in docker-compose or a ``.env`` file means.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from fer.errors import FerError

REPO_ROOT = Path(__file__).resolve().parent.parent

#: File name of the SQLite database inside :attr:`AppConfig.data_dir`.
DB_FILENAME = "classmood.sqlite3"


class ConfigError(FerError, ValueError):
    """A setting has a value the app cannot run with; the message names the variable."""


@dataclass(frozen=True)
class AlertConfig:
    """When the dashboard raises a class-level alert.

    Alerts judge a sliding window rather than one moment, because a single frame of a
    frown or a student looking away is noise, not a signal worth a teacher's attention.
    """

    #: Length of the sliding window an alert condition is judged over (seconds).
    window_s: float = 60.0
    #: An alert is raised when its condition held for at least this share of the window.
    hold_fraction: float = 0.8
    #: A raised alert stays until its condition holds for less than this share of the
    #: window; lower than ``hold_fraction`` so an alert near the edge does not blink.
    release_fraction: float = 0.5
    #: Share of present students whose most likely expression is negative (angry,
    #: disgust, fear, sad) at or above which the "negative mood" condition holds.
    negative_share: float = 0.4
    #: Share of joined students without a face seen at or above which the "absent"
    #: condition holds (and at least one student must be absent).
    absent_share: float = 0.25
    #: The mood alert needs at least this many present students, so that one or two
    #: faces never become a statement about "the class".
    min_present: int = 3

    def __post_init__(self) -> None:
        _check(self.window_s > 0, "alerts.window_s", "must be > 0", self.window_s)
        for name in ("hold_fraction", "release_fraction", "negative_share", "absent_share"):
            value = getattr(self, name)
            _check(0 < value <= 1, f"alerts.{name}", "must be in (0, 1]", value)
        _check(
            self.release_fraction <= self.hold_fraction,
            "alerts.release_fraction",
            f"must not exceed alerts.hold_fraction ({self.hold_fraction})",
            self.release_fraction,
        )
        _check(self.min_present >= 1, "alerts.min_present", "must be >= 1", self.min_present)


@dataclass(frozen=True)
class AppConfig:
    """Settings of the ClassMood web app; build it with :meth:`from_env`."""

    #: Frames per second analyzed per student (``CLASSMOOD_ANALYSIS_FPS``); the browser
    #: sends more, the processor keeps only the newest, so this bounds server CPU per student.
    analysis_fps: float = 3.0
    #: Face detector (``CLASSMOOD_DETECTOR``): `yunet` (landmarks, head pose; served by LiteRT
    #: from `models/yunet.tflite`), or `haar` where LiteRT cannot run that file; unknown names are
    #: reported by ``fer.vision.detect``, where the list of detectors lives.
    detector: str = "yunet"
    #: Longest side, in pixels, of the copy of a student's frame the detector searches
    #: (``CLASSMOOD_DETECT_MAX_SIDE``; 0 = the detector's own default). A student's webcam face
    #: is large, so a small copy finds it at a quarter of a full search's cost.
    detect_max_side: int = 320
    #: YuNet score (0-1) from which a face the search doubts gets a second look in an enlarged
    #: cut-out of the frame, kept only if that search is sure of it (``CLASSMOOD_DETECT_RECHECK``;
    #: 0 = none). It finds small and dim faces at a fraction of a larger search's cost
    #: (``python -m fer bench-detect``); the library's default is 0.3, the app's 0 because a
    #: webcam face is large and, in ``python -m fer loadtest``, 30 students lost a fifth of their
    #: analyzed rate to it (the README's figures).
    detect_recheck: float = 0.0
    #: Run the face detector on every n-th analyzed frame of a student and follow the
    #: tracked faces in between (``CLASSMOOD_DETECT_EVERY``; 1 = detect on every frame).
    #: Detection is most of an analysis's cost, and between detections each face is followed
    #: by template matching (``fer.vision.track.FaceFollower``), so a student moving at a webcam stays boxed.
    #: At 3 analyzed fps, 6 means a full search every 2 s (a newly seated student is found
    #: within 2 s); the README's load figures (``python -m fer loadtest``) chose it.
    detect_every: int = 6
    #: Analyses that may run at once in this process (``CLASSMOOD_ANALYSIS_SLOTS``; 0 = one
    #: per CPU core). More students than that wait their turn in a fair queue
    #: (:mod:`fer.classroom.governor`) instead of slowing every analysis down.
    analysis_slots: int = 0
    #: Trained emotion model (``CLASSMOOD_MODEL_PATH``): by default the LiteRT export of the
    #: shipped ``emotion_cnn.keras`` (``python -m fer export``), which is faster than Keras
    #: and needs no TensorFlow; a ``.keras`` path works too.
    model_path: Path = REPO_ROOT / "models" / "emotion_cnn.tflite"
    #: Folder of the SQLite database (``CLASSMOOD_DATA_DIR``); created when missing.
    data_dir: Path = REPO_ROOT / "data"
    #: WebRTC ICE servers (``CLASSMOOD_ICE_SERVERS``, a JSON list such as
    #: ``[{"urls": "stun:stun.example.org:3478"}]``). Empty by default: which STUN/TURN
    #: servers students' browsers contact is the operator's decision, never ours.
    ice_servers: tuple[Mapping[str, Any], ...] = ()
    #: Shared secret of the TURN server (``CLASSMOOD_TURN_SECRET``; coturn's
    #: ``static-auth-secret``, at least 16 characters). With it each student session gets its
    #: own TURN login that expires (:mod:`fer.classroom.turn`) instead of one static login sent
    #: to every browser; never put it in ``CLASSMOOD_ICE_SERVERS``.
    turn_secret: str | None = field(default=None, repr=False)
    #: TURN server URLs handed to browsers with the session's login (``CLASSMOOD_TURN_URLS``,
    #: comma-separated or a JSON list of URLs like ``turn:turn.example.org:3478?transport=udp``).
    #: Needed with ``CLASSMOOD_TURN_SECRET``.
    turn_urls: tuple[str, ...] = ()
    #: Seconds a session's TURN login is valid (``CLASSMOOD_TURN_TTL_S``). The TURN server
    #: checks it again when a relay is refreshed, so it must outlast the longest lecture; a
    #: leaked login is useless after it.
    turn_ttl_s: float = 4 * 3600.0
    #: A student counts as present while a face was seen within this many seconds
    #: (``CLASSMOOD_PRESENCE_TIMEOUT_S``); also how long a dropped connection takes to
    #: turn into "absent".
    presence_timeout_s: float = 5.0
    #: A student's analysis worker ends, and the student is marked absent, when no frame
    #: arrived for this many seconds (``CLASSMOOD_IDLE_STOP_S``): a closed tab or a dead
    #: connection whose ``on_video_ended`` never came must not keep a thread forever.
    idle_stop_s: float = 30.0
    #: Seconds between stored samples per student (``CLASSMOOD_SAMPLE_INTERVAL_S``).
    sample_interval_s: float = 1.0
    #: Width of the buckets of the live "mood over time" chart (``CLASSMOOD_CHART_WINDOW_S``).
    chart_window_s: float = 5.0
    #: Seconds between two redraws of the dashboard's charts (``CLASSMOOD_CHART_REFRESH_S``); the
    #: numbers and tiles refresh every second. Building the plotly figures is most of a dashboard
    #: refresh's server CPU, and a chart of 5-second buckets gains little from a redraw a second.
    chart_refresh_s: float = 5.0
    #: Width of the buckets of the end-of-session report (``CLASSMOOD_REPORT_WINDOW_S``).
    report_window_s: float = 30.0
    #: Recent expressions shown on each student tile (``CLASSMOOD_TREND_POINTS``).
    trend_points: int = 20
    #: Width of the stream the browser sends (``CLASSMOOD_CAMERA_WIDTH``, pixels). The detector
    #: searches a 320-pixel copy anyway and a webcam face stays above the classifier's 48
    #: pixels, while every extra pixel is decoded on the server; the student's own preview has
    #: its own width (``preview_width``).
    camera_width: int = 320
    #: Frame rate of the stream the browser sends (``CLASSMOOD_CAMERA_FPS``); the server decodes
    #: every frame it receives, so this sets much of its CPU per student (keep it above
    #: ``analysis_fps``).
    camera_fps: float = 10.0
    #: Most kilobits a second the browser may send its camera at (``CLASSMOOD_CAMERA_KBPS``; 0:
    #: no cap), written into the server's SDP answer: the server pays per received packet, and a
    #: 320-pixel face needs far fewer bits than a LAN allows.
    camera_kbps: int = 150
    #: Width the student's own preview asks the camera for (``CLASSMOOD_PREVIEW_WIDTH``, pixels):
    #: the video they see of themselves, shown from their browser; the server never receives it.
    preview_width: int = 640
    #: Seconds between two refreshes of the student page's status (``CLASSMOOD_STATUS_INTERVAL_S``):
    #: the face seen, the expression, "connection lost"; each refresh is a script run on the server.
    status_interval_s: float = 3.0
    #: Largest upload the "Analyze media" page accepts, in MB (``CLASSMOOD_MAX_UPLOAD_MB``).
    #: Streamlit's own limit, ``server.maxUploadSize`` in ``.streamlit/config.toml``, is the same
    #: 50 (the server refuses larger request bodies before they are held in memory; a test keeps
    #: the two equal): raise both together (``STREAMLIT_SERVER_MAX_UPLOAD_SIZE``).
    max_upload_mb: float = 50.0
    #: Seconds of an uploaded video that are analyzed (``CLASSMOOD_MAX_VIDEO_S``); longer
    #: videos are cut there, so one upload cannot occupy the server for an hour.
    max_video_s: float = 60.0
    #: Frames per second analyzed in an uploaded video (``CLASSMOOD_MEDIA_FPS``).
    media_fps: float = 2.0
    #: Longest side, in pixels, of the copy of an uploaded photo or video frame the detector
    #: searches (``CLASSMOOD_MEDIA_DETECT_MAX_SIDE``; 0 = the detector's own default); with
    #: YuNet, smaller frames are enlarged to it. A photo or recording of a whole class has
    #: small faces, which YuNet finds far more often in an enlarged copy: 960 found as many
    #: 40-60 px faces as MTCNN and more (``python -m fer bench-detect``, the README's table),
    #: at 3x the cost of a 640 search, which one upload at a time can afford.
    media_detect_max_side: int = 960
    #: YuNet score (0-1) from which a face the search of an upload doubts gets a second look,
    #: as ``CLASSMOOD_DETECT_RECHECK`` does for a student's frame
    #: (``CLASSMOOD_MEDIA_DETECT_RECHECK``; 0 = none).
    media_detect_recheck: float = 0.2
    #: Largest image the "Analyze media" page and ``python -m fer analyze`` decode, in
    #: megapixels (``CLASSMOOD_MAX_IMAGE_MEGAPIXELS``), read from the file's header before
    #: decoding; a 16-bit or alpha image may decode to at most 3 bytes per allowed pixel, so it
    #: is allowed fewer. 50 passes a 48-megapixel phone photo.
    max_image_megapixels: float = 50.0
    #: Largest video frame decoded, in megapixels (``CLASSMOOD_MAX_VIDEO_MEGAPIXELS``), checked
    #: in the header and by the decoder; 3840x2160 (4K) is 8.29.
    max_video_megapixels: float = 8.3
    #: Frames of an uploaded video decoded at most (``CLASSMOOD_MAX_VIDEO_FRAMES``), whatever
    #: its timestamps claim; 3600 is 60 s at 60 fps.
    max_video_frames: int = 3600
    #: Seconds of server time one uploaded video may take (``CLASSMOOD_MAX_ANALYSIS_S``); the
    #: page shows how far it got. Its analysis waits for its turns in the students' fair queue,
    #: so on a busy server it is the upload that slows down, not the class.
    max_analysis_s: float = 180.0
    #: Who may use the "Analyze media" page (``CLASSMOOD_ANALYZE_ACCESS``): ``teacher`` (the
    #: default: whoever holds the teacher key of an open room, so a public deployment does not
    #: decode strangers' files), ``open`` (every visitor, for a local or demo install) or ``off``.
    analyze_access: str = "teacher"
    #: Alert thresholds and windows (``CLASSMOOD_ALERT_*``, ``CLASSMOOD_*_ALERT_SHARE``).
    alerts: AlertConfig = field(default_factory=AlertConfig)
    #: Redis connection URL (``REDIS_URL``); when set, several app hosts can share one
    #: store. ``None`` selects the SQLite file in :attr:`data_dir`.
    redis_url: str | None = None
    #: Days a lecture's data (names, numbers, moments) is kept after the room was created
    #: (``CLASSMOOD_RETENTION_DAYS``). Then it is erased: SQLite by an hourly purge, Redis by
    #: its keys' TTLs. Teachers may delete a lecture, and students their own numbers, sooner.
    retention_days: float = 30.0
    #: Hours a teacher stays signed in after entering the key (``CLASSMOOD_TEACHER_SESSION_H``);
    #: the session token lives server-side in the store and in a cookie, never in a URL.
    teacher_session_h: float = 12.0
    #: The report hides the emotion mix of any time bucket with fewer present students
    #: (``CLASSMOOD_REPORT_MIN_PRESENT``): a bucket of one or two faces is those students' own data.
    report_min_present: int = 3
    #: Length of the rate-limit window in seconds (``CLASSMOOD_RATE_WINDOW_S``); the limits
    #: below count attempts per window.
    rate_window_s: float = 600.0
    #: Teacher-key attempts per client address and window (``CLASSMOOD_LOGIN_LIMIT``).
    login_limit: int = 10
    #: Teacher-key attempts on one room, from anywhere, per window (``CLASSMOOD_LOGIN_ROOM_LIMIT``).
    login_room_limit: int = 30
    #: Rooms one client address may create per window (``CLASSMOOD_CREATE_LIMIT``).
    create_limit: int = 10
    #: Joins per client address and window (``CLASSMOOD_JOIN_LIMIT``); a school behind one
    #: address joins a whole class from it, so this is generous.
    join_limit: int = 60
    #: Joins of one room per window, from anywhere (``CLASSMOOD_JOIN_ROOM_LIMIT``).
    join_room_limit: int = 600
    #: Longest wait a repeated offender is given, in seconds (``CLASSMOOD_MAX_BACKOFF_S``);
    #: each refusal in a row doubles the wait, starting from one window.
    max_backoff_s: float = 3600.0
    #: Addresses or networks of reverse proxies whose ``X-Forwarded-For`` is believed
    #: (``CLASSMOOD_TRUSTED_PROXIES``, comma-separated, like ``10.0.0.0/8``). Empty: the header
    #: is ignored, since any visitor can send one and would pick their own rate-limit identity.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_path", Path(self.model_path))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "ice_servers", _ice_servers(list(self.ice_servers), "ice_servers"))
        object.__setattr__(self, "turn_urls", tuple(self.turn_urls))
        _check_turn(self.turn_secret, self.turn_urls, self.turn_ttl_s)
        _check(0 < self.analysis_fps <= 30, "analysis_fps", "must be in (0, 30]", self.analysis_fps)
        _check(bool(_DETECTOR_NAME.fullmatch(self.detector)), "detector", "must be a detector name like 'haar'", self.detector)
        for name in ("sample_interval_s", "presence_timeout_s", "idle_stop_s", "chart_window_s", "chart_refresh_s",
                     "report_window_s",
                     "max_upload_mb", "max_video_s", "media_fps", "status_interval_s"):
            _check(getattr(self, name) > 0, name, "must be > 0", getattr(self, name))
        _check(
            self.presence_timeout_s > self.sample_interval_s,
            "presence_timeout_s",
            f"must exceed sample_interval_s ({self.sample_interval_s}), or present students flicker to absent between samples",
            self.presence_timeout_s,
        )
        _check(
            self.status_interval_s < self.presence_timeout_s,
            "status_interval_s",
            f"must be below presence_timeout_s ({self.presence_timeout_s}), or a lost connection's heartbeats "
            "arrive too seldom and the teacher's tile flickers to 'no video'",
            self.status_interval_s,
        )
        _check(160 <= self.camera_width <= 1920, "camera_width", "must be in [160, 1920]", self.camera_width)
        _check(1 <= self.camera_fps <= 60, "camera_fps", "must be in [1, 60]", self.camera_fps)
        _check(self.camera_kbps == 0 or 30 <= self.camera_kbps <= 10000, "camera_kbps",
               "must be 0 (no cap) or in [30, 10000]", self.camera_kbps)
        _check(160 <= self.preview_width <= 1920, "preview_width", "must be in [160, 1920]", self.preview_width)
        _check(self.trend_points >= 1, "trend_points", "must be >= 1", self.trend_points)
        _check(1 <= self.detect_every <= 30, "detect_every", "must be in [1, 30]", self.detect_every)
        _check(self.detect_max_side == 0 or 64 <= self.detect_max_side <= 1920, "detect_max_side",
               "must be 0 or in [64, 1920]", self.detect_max_side)
        _check(0 <= self.detect_recheck < 1, "detect_recheck", "must be in [0, 1)", self.detect_recheck)
        _check(self.media_detect_max_side == 0 or 64 <= self.media_detect_max_side <= 1920, "media_detect_max_side",
               "must be 0 or in [64, 1920]", self.media_detect_max_side)
        _check(0 <= self.media_detect_recheck < 1, "media_detect_recheck", "must be in [0, 1)",
               self.media_detect_recheck)
        _check(0 <= self.analysis_slots <= 256, "analysis_slots", "must be in [0, 256]", self.analysis_slots)
        for name in ("retention_days", "teacher_session_h", "rate_window_s", "max_backoff_s"):
            _check(getattr(self, name) > 0, name, "must be > 0", getattr(self, name))
        for name in ("report_min_present", "login_limit", "login_room_limit", "create_limit", "join_limit", "join_room_limit"):
            _check(getattr(self, name) >= 1, name, "must be >= 1", getattr(self, name))
        object.__setattr__(self, "trusted_proxies", _proxies(self.trusted_proxies, "trusted_proxies"))
        for name in ("max_image_megapixels", "max_video_megapixels", "max_analysis_s"):
            _check(getattr(self, name) > 0, name, "must be > 0", getattr(self, name))
        _check(self.max_video_frames >= 1, "max_video_frames", "must be >= 1", self.max_video_frames)
        _check(self.analyze_access in ANALYZE_ACCESS, "analyze_access", f"must be one of {', '.join(ANALYZE_ACCESS)}",
               self.analyze_access)

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86400.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILENAME

    def analyzer_options(self):
        """The :class:`fer.vision.pipeline.AnalyzerOptions` of a student's stream (one place for the
        app, the load test and any other caller that must behave like the app)."""
        from fer.vision.pipeline import AnalyzerOptions

        # One classifier thread: the app runs one analysis per core (the fair queue's slots),
        # so more threads per analysis would only fight over the same cores.
        return AnalyzerOptions(model_path=self.model_path, detector=self.detector, detect_every=self.detect_every,
                               detect_max_side=self.detect_max_side or None, detect_recheck=self.detect_recheck,
                               classifier_threads=1)

    def media_analyzer_options(self):
        """The :class:`fer.vision.pipeline.AnalyzerOptions` of an upload on the "Analyze media" page:
        the student's, searched larger (``media_detect_max_side``, ``media_detect_recheck``) and
        with a full search on every analyzed frame, since uploaded frames are seconds apart."""
        from dataclasses import replace

        return replace(self.analyzer_options(), detect_max_side=self.media_detect_max_side or None,
                       detect_upscale=bool(self.media_detect_max_side), detect_recheck=self.media_detect_recheck,
                       detect_every=1)

    def upload_limits(self):
        """The :class:`fer.vision.upload.UploadLimits` of the "Analyze media" page (and, without the
        size, length, frame and time bounds, of the CLI)."""
        from fer.vision.upload import UploadLimits

        return UploadLimits(
            max_bytes=int(self.max_upload_mb * 1024 * 1024),
            max_image_pixels=int(self.max_image_megapixels * 1e6),
            max_video_pixels=int(self.max_video_megapixels * 1e6),
            max_video_frames=self.max_video_frames,
            max_video_s=self.max_video_s,
            max_analysis_s=self.max_analysis_s,
        )

    def rtc_configuration(self) -> dict[str, Any]:
        """The ``rtc_configuration`` argument of ``webrtc_streamer``."""
        return {"iceServers": [dict(server) for server in self.ice_servers]}

    def media_stream_constraints(self) -> dict[str, Any]:
        """The ``media_stream_constraints`` of ``webrtc_streamer``: video only, never audio."""
        return {
            "video": {"width": {"ideal": self.camera_width}, "frameRate": {"ideal": self.camera_fps, "max": self.camera_fps}},
            "audio": False,
        }

    def preview_constraints(self) -> dict[str, Any]:
        """The student's own preview (``ui.camera.preview``): no frame-rate cap, its own width."""
        return {"video": {"width": {"ideal": self.preview_width}}, "audio": False}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> "AppConfig":
        """Read every setting from ``environ`` (default ``os.environ``), then ``secrets``.

        Raises :class:`ConfigError` naming the variable when a value is malformed.
        """
        environ = os.environ if environ is None else environ
        sources = [environ, secrets or {}]

        def lookup(var: str) -> Any:
            for source in sources:
                value = source.get(var)
                if value is not None and not (isinstance(value, str) and value.strip() == ""):
                    return value
            return None

        def read(spec: dict[str, tuple[str, Callable[[Any, str], Any]]]) -> dict[str, Any]:
            values = {}
            for name, (var, parse) in spec.items():
                raw = lookup(var)
                if raw is not None:
                    values[name] = parse(raw, var)
            return values

        alert_values = read(_ALERT_VARS)
        app_values = read(_APP_VARS)
        try:
            alerts = AlertConfig(**alert_values)
            return cls(alerts=alerts, **app_values)
        except ConfigError as error:
            # Range checks name fields; translate to the variable the operator actually set.
            raise ConfigError(_name_variables(str(error))) from None


#: Values of :attr:`AppConfig.analyze_access`.
ANALYZE_ACCESS = ("teacher", "open", "off")

_DETECTOR_NAME = re.compile(r"[a-z][a-z0-9_\-]*")


def _check(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name} {rule}, got {value!r}")


def _number(raw: Any, var: str) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"{var} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{var} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{var} must be a finite number, got {raw!r}")
    return value


def _integer(raw: Any, var: str) -> int:
    value = _number(raw, var)
    if value != int(value):
        raise ConfigError(f"{var} must be a whole number, got {raw!r}")
    return int(value)


def _text(raw: Any, var: str) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{var} must be text, got {raw!r}")
    return raw.strip()


def _access(raw: Any, var: str) -> str:
    return _text(raw, var).lower()


def _path(raw: Any, var: str) -> Path:
    return Path(_text(raw, var)).expanduser()


def _redis_url(raw: Any, var: str) -> str:
    url = _text(raw, var)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{var} must be a redis://, rediss:// or unix:// URL, got {url[:40]!r}")
    return url


def _turn_urls(raw: Any, var: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise ConfigError(f"{var} must be turn: URLs, comma-separated or a JSON list: {error}") from None
        else:
            raw = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(u, str) for u in raw):
        raise ConfigError(f"{var} must be turn: URLs, comma-separated or a JSON list, got {raw!r}")
    return tuple(raw)


def _secret(raw: Any, var: str) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{var} must be text")
    return raw.strip()


def _check_turn(secret: str | None, urls: tuple[str, ...], ttl_s: float) -> None:
    """Both halves or neither: a secret without URLs (or URLs without the secret) would give
    students no TURN server at all, found out only by those behind a firewall."""
    if secret is not None and len(secret) < 16:
        # Never the value: it is a secret.
        raise ConfigError(f"turn_secret must be at least 16 characters (got {len(secret)}); use a long random string")
    if secret is not None and not urls:
        raise ConfigError("turn_urls must list the TURN server's turn: URLs when turn_secret is set")
    if urls and secret is None:
        raise ConfigError("turn_secret must be set when turn_urls is (static TURN logins go in ice_servers)")
    for url in urls:
        _check(bool(re.fullmatch(r"turns?:[^\s,]+", url)), "turn_urls", "must hold turn: or turns: URLs", url)
    _check(60 <= ttl_s <= 7 * 86400, "turn_ttl_s", "must be in [60, 604800] seconds", ttl_s)


def _ice_servers_var(raw: Any, var: str) -> tuple[Mapping[str, Any], ...]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{var} must be a JSON list of ICE servers: {error}") from None
    return _ice_servers(raw, var)


def _ice_servers(raw: Any, var: str) -> tuple[Mapping[str, Any], ...]:
    """Check the shape browsers accept (``RTCIceServer``), because a typo here otherwise
    shows up only as students who can never connect from behind a firewall."""
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f'{var} must be a list like [{{"urls": "stun:host:3478"}}], got {type(raw).__name__}')
    servers = []
    for i, server in enumerate(raw):
        if not isinstance(server, Mapping):
            raise ConfigError(f"{var}[{i}] must be an object with 'urls', got {server!r}")
        urls = server.get("urls")
        url_list = [urls] if isinstance(urls, str) else urls
        if not isinstance(url_list, (list, tuple)) or not url_list or not all(
            isinstance(u, str) and u.startswith(("stun:", "stuns:", "turn:", "turns:")) for u in url_list
        ):
            raise ConfigError(f"{var}[{i}].urls must be one or more stun:/turn: URLs, got {urls!r}")
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise ConfigError(f"{var}[{i}].{key} must be text")
        unknown = set(server) - {"urls", "username", "credential"}
        if unknown:
            raise ConfigError(f"{var}[{i}] has unknown keys {sorted(unknown)}")
        servers.append({k: (list(v) if k == "urls" and not isinstance(v, str) else v) for k, v in server.items()})
    return tuple(servers)


def _proxies(raw: Any, var: str) -> tuple[str, ...]:
    """Each entry checked as an address or network, so a typo does not silently trust nobody."""
    import ipaddress

    items = raw.split(",") if isinstance(raw, str) else list(raw)
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ConfigError(f"{var} must list IP addresses or networks like 10.0.0.0/8, got {text!r}") from None
    return tuple(networks)


_APP_VARS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "analysis_fps": ("CLASSMOOD_ANALYSIS_FPS", _number),
    "detector": ("CLASSMOOD_DETECTOR", _text),
    "detect_every": ("CLASSMOOD_DETECT_EVERY", _integer),
    "detect_max_side": ("CLASSMOOD_DETECT_MAX_SIDE", _integer),
    "detect_recheck": ("CLASSMOOD_DETECT_RECHECK", _number),
    "analysis_slots": ("CLASSMOOD_ANALYSIS_SLOTS", _integer),
    "model_path": ("CLASSMOOD_MODEL_PATH", _path),
    "data_dir": ("CLASSMOOD_DATA_DIR", _path),
    "ice_servers": ("CLASSMOOD_ICE_SERVERS", _ice_servers_var),
    "turn_secret": ("CLASSMOOD_TURN_SECRET", _secret),
    "turn_urls": ("CLASSMOOD_TURN_URLS", _turn_urls),
    "turn_ttl_s": ("CLASSMOOD_TURN_TTL_S", _number),
    "presence_timeout_s": ("CLASSMOOD_PRESENCE_TIMEOUT_S", _number),
    "idle_stop_s": ("CLASSMOOD_IDLE_STOP_S", _number),
    "sample_interval_s": ("CLASSMOOD_SAMPLE_INTERVAL_S", _number),
    "chart_window_s": ("CLASSMOOD_CHART_WINDOW_S", _number),
    "chart_refresh_s": ("CLASSMOOD_CHART_REFRESH_S", _number),
    "report_window_s": ("CLASSMOOD_REPORT_WINDOW_S", _number),
    "trend_points": ("CLASSMOOD_TREND_POINTS", _integer),
    "camera_width": ("CLASSMOOD_CAMERA_WIDTH", _integer),
    "camera_fps": ("CLASSMOOD_CAMERA_FPS", _number),
    "camera_kbps": ("CLASSMOOD_CAMERA_KBPS", _integer),
    "preview_width": ("CLASSMOOD_PREVIEW_WIDTH", _integer),
    "status_interval_s": ("CLASSMOOD_STATUS_INTERVAL_S", _number),
    "max_upload_mb": ("CLASSMOOD_MAX_UPLOAD_MB", _number),
    "max_video_s": ("CLASSMOOD_MAX_VIDEO_S", _number),
    "media_fps": ("CLASSMOOD_MEDIA_FPS", _number),
    "media_detect_max_side": ("CLASSMOOD_MEDIA_DETECT_MAX_SIDE", _integer),
    "media_detect_recheck": ("CLASSMOOD_MEDIA_DETECT_RECHECK", _number),
    "max_image_megapixels": ("CLASSMOOD_MAX_IMAGE_MEGAPIXELS", _number),
    "max_video_megapixels": ("CLASSMOOD_MAX_VIDEO_MEGAPIXELS", _number),
    "max_video_frames": ("CLASSMOOD_MAX_VIDEO_FRAMES", _integer),
    "max_analysis_s": ("CLASSMOOD_MAX_ANALYSIS_S", _number),
    "analyze_access": ("CLASSMOOD_ANALYZE_ACCESS", _access),
    "redis_url": ("REDIS_URL", _redis_url),
    "retention_days": ("CLASSMOOD_RETENTION_DAYS", _number),
    "teacher_session_h": ("CLASSMOOD_TEACHER_SESSION_H", _number),
    "report_min_present": ("CLASSMOOD_REPORT_MIN_PRESENT", _integer),
    "rate_window_s": ("CLASSMOOD_RATE_WINDOW_S", _number),
    "login_limit": ("CLASSMOOD_LOGIN_LIMIT", _integer),
    "login_room_limit": ("CLASSMOOD_LOGIN_ROOM_LIMIT", _integer),
    "create_limit": ("CLASSMOOD_CREATE_LIMIT", _integer),
    "join_limit": ("CLASSMOOD_JOIN_LIMIT", _integer),
    "join_room_limit": ("CLASSMOOD_JOIN_ROOM_LIMIT", _integer),
    "max_backoff_s": ("CLASSMOOD_MAX_BACKOFF_S", _number),
    "trusted_proxies": ("CLASSMOOD_TRUSTED_PROXIES", _proxies),
}

_ALERT_VARS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "window_s": ("CLASSMOOD_ALERT_WINDOW_S", _number),
    "hold_fraction": ("CLASSMOOD_ALERT_HOLD_FRACTION", _number),
    "release_fraction": ("CLASSMOOD_ALERT_RELEASE_FRACTION", _number),
    "negative_share": ("CLASSMOOD_NEGATIVE_ALERT_SHARE", _number),
    "absent_share": ("CLASSMOOD_ABSENT_ALERT_SHARE", _number),
    "min_present": ("CLASSMOOD_ALERT_MIN_PRESENT", _integer),
}

#: Environment variable of every field, for error messages and documentation.
ENV_VARS: dict[str, str] = {
    **{name: var for name, (var, _) in _APP_VARS.items()},
    **{f"alerts.{name}": var for name, (var, _) in _ALERT_VARS.items()},
}

def _name_variables(message: str) -> str:
    """``"analysis_fps must be ..."`` -> ``"CLASSMOOD_ANALYSIS_FPS must be ..."``."""
    for name, var in sorted(ENV_VARS.items(), key=lambda item: -len(item[0])):
        message = re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", var, message)
    return message


def settings_table() -> str:
    """The README's settings table, made from the fields' own ``#:`` comments and defaults.

    Generated rather than written by hand so that the table and the code cannot drift:
    ``tests/test_config.py`` checks that the README holds exactly this table, and
    ``python -m fer settings`` prints it after a setting is added.
    """
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(__import__(__name__, fromlist=["_"])))
    lines = inspect.getsource(__import__(__name__, fromlist=["_"])).splitlines()
    comments: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in ("AppConfig", "AlertConfig"):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    doc, row = [], item.lineno - 2
                    while row >= 0 and lines[row].strip().startswith("#:"):
                        doc.insert(0, lines[row].strip()[2:].strip())
                        row -= 1
                    comments[(node.name, item.target.id)] = " ".join(doc)

    def meaning(text: str, var: str) -> str:
        """The comment's first sentence, without the variable's own name (the row has it)."""
        text = text.replace(f" (``{var}``)", "").replace(f"(``{var}``, ", "(").replace(f"(``{var}``; ", "(")
        text = text.replace("``", "`").replace("|", "\\|")
        return re.split(r"(?<=\.)\s", text, maxsplit=1)[0].rstrip(".")

    def default(value: Any) -> str:
        if isinstance(value, Path):
            try:
                return f"`{value.relative_to(REPO_ROOT)}`"
            except ValueError:
                return f"`{value}`"
        if value is None:
            return "unset"
        if isinstance(value, tuple):
            return f"`{json.dumps(list(value))}`"
        if isinstance(value, float) and value.is_integer():
            return f"{int(value)}"
        if isinstance(value, str):
            return f"`{value}`"
        return f"{value}"

    from dataclasses import MISSING, fields

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for cls, spec, prefix in ((AppConfig, _APP_VARS, ""), (AlertConfig, _ALERT_VARS, "alerts.")):
        for f in fields(cls):
            if f.name not in spec:
                continue
            value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            rows.append(f"| `{spec[f.name][0]}` | {default(value)} | {meaning(comments.get((cls.__name__, f.name), ''), spec[f.name][0])} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m fer settings``: print the settings table (markdown) the README carries."""
    print(settings_table())
    return 0
