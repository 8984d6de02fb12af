"""AppConfig: defaults, environment and secrets, and errors that name the variable."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from fer.config import DB_FILENAME, ENV_VARS, REPO_ROOT, AlertConfig, AppConfig, ConfigError


def test_defaults_need_no_environment_and_hard_code_no_ice_server():
    config = AppConfig.from_env({})
    assert config.analysis_fps == 3
    assert config.detector == "yunet"
    assert config.model_path == REPO_ROOT / "models" / "emotion_cnn.tflite"
    assert config.data_dir == REPO_ROOT / "data"
    assert config.db_path == REPO_ROOT / "data" / DB_FILENAME
    assert config.ice_servers == ()
    assert config.rtc_configuration() == {"iceServers": []}
    assert config.presence_timeout_s == 5
    assert config.sample_interval_s == 1
    assert config.redis_url is None
    assert config.alerts == AlertConfig()


def test_every_setting_has_an_environment_variable():
    names = {f.name for f in fields(AppConfig)} - {"alerts"}
    names |= {f"alerts.{f.name}" for f in fields(AlertConfig)}
    assert set(ENV_VARS) == names


def test_environment_values_are_parsed(tmp_path):
    ice = [{"urls": ["stun:stun.example.org:3478"]}, {"urls": "turn:turn.example.org", "username": "u", "credential": "c"}]
    config = AppConfig.from_env(
        {
            "CLASSMOOD_ANALYSIS_FPS": "2.5",
            "CLASSMOOD_DETECTOR": "yunet",
            "CLASSMOOD_MODEL_PATH": str(tmp_path / "m.keras"),
            "CLASSMOOD_DATA_DIR": str(tmp_path / "d"),
            "CLASSMOOD_ICE_SERVERS": json.dumps(ice),
            "CLASSMOOD_PRESENCE_TIMEOUT_S": "8",
            "CLASSMOOD_IDLE_STOP_S": "12.5",
            "CLASSMOOD_SAMPLE_INTERVAL_S": "2",
            "CLASSMOOD_TREND_POINTS": "10",
            "CLASSMOOD_DETECT_EVERY": "5",
            "CLASSMOOD_ANALYSIS_SLOTS": "4",
            "CLASSMOOD_ALERT_WINDOW_S": "30",
            "CLASSMOOD_ALERT_HOLD_FRACTION": "0.9",
            "CLASSMOOD_NEGATIVE_ALERT_SHARE": "0.5",
            "CLASSMOOD_ALERT_MIN_PRESENT": "5",
            "REDIS_URL": "redis://localhost:6379/0",
        }
    )
    assert config.analysis_fps == 2.5 and config.detector == "yunet"
    assert config.model_path == tmp_path / "m.keras" and config.data_dir == tmp_path / "d"
    assert config.rtc_configuration() == {"iceServers": ice}
    assert (config.presence_timeout_s, config.sample_interval_s, config.trend_points) == (8, 2, 10)
    assert config.idle_stop_s == 12.5
    assert config.alerts == AlertConfig(window_s=30, hold_fraction=0.9, negative_share=0.5, min_present=5)
    assert config.redis_url == "redis://localhost:6379/0"
    assert (config.detect_every, config.analysis_slots) == (5, 4)
    options = config.analyzer_options()
    assert (options.detect_every, options.detector, options.model_path) == (5, "yunet", tmp_path / "m.keras")


def test_secrets_fill_in_and_the_environment_overrides_them():
    secrets = {
        "CLASSMOOD_ANALYSIS_FPS": 5,
        "CLASSMOOD_DETECTOR": "mtcnn",
        # TOML secrets give a native list of tables rather than a JSON string.
        "CLASSMOOD_ICE_SERVERS": [{"urls": "stun:stun.example.org"}],
    }
    config = AppConfig.from_env({"CLASSMOOD_DETECTOR": "haar"}, secrets=secrets)
    assert config.analysis_fps == 5
    assert config.detector == "haar"
    assert config.ice_servers == ({"urls": "stun:stun.example.org"},)


def test_empty_values_count_as_unset():
    config = AppConfig.from_env({"REDIS_URL": "", "CLASSMOOD_ANALYSIS_FPS": "  "})
    assert config.redis_url is None and config.analysis_fps == 3


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"CLASSMOOD_ANALYSIS_FPS": "fast"}, "CLASSMOOD_ANALYSIS_FPS"),
        ({"CLASSMOOD_ANALYSIS_FPS": "0"}, "CLASSMOOD_ANALYSIS_FPS"),
        ({"CLASSMOOD_ANALYSIS_FPS": "nan"}, "CLASSMOOD_ANALYSIS_FPS"),
        ({"CLASSMOOD_TREND_POINTS": "2.5"}, "CLASSMOOD_TREND_POINTS"),
        ({"CLASSMOOD_DETECTOR": "Haar Cascade"}, "CLASSMOOD_DETECTOR"),
        ({"CLASSMOOD_ICE_SERVERS": "[{urls: stun:x}]"}, "CLASSMOOD_ICE_SERVERS"),
        ({"CLASSMOOD_ICE_SERVERS": '{"urls": "stun:x"}'}, "CLASSMOOD_ICE_SERVERS"),
        ({"CLASSMOOD_ICE_SERVERS": '[{"url": "stun:x"}]'}, "CLASSMOOD_ICE_SERVERS[0]"),
        ({"CLASSMOOD_ICE_SERVERS": '[{"urls": "http://x"}]'}, "CLASSMOOD_ICE_SERVERS[0].urls"),
        ({"CLASSMOOD_PRESENCE_TIMEOUT_S": "-1"}, "CLASSMOOD_PRESENCE_TIMEOUT_S"),
        ({"CLASSMOOD_IDLE_STOP_S": "0"}, "CLASSMOOD_IDLE_STOP_S"),
        ({"CLASSMOOD_STATUS_INTERVAL_S": "0"}, "CLASSMOOD_STATUS_INTERVAL_S"),
        ({"CLASSMOOD_STATUS_INTERVAL_S": "5"}, "CLASSMOOD_STATUS_INTERVAL_S"),  # heartbeats must beat the presence timeout
        ({"CLASSMOOD_ALERT_HOLD_FRACTION": "1.5"}, "CLASSMOOD_ALERT_HOLD_FRACTION"),
        ({"CLASSMOOD_ALERT_MIN_PRESENT": "0"}, "CLASSMOOD_ALERT_MIN_PRESENT"),
        ({"CLASSMOOD_DETECT_EVERY": "0"}, "CLASSMOOD_DETECT_EVERY"),
        ({"CLASSMOOD_DETECT_RECHECK": "1"}, "CLASSMOOD_DETECT_RECHECK"),
        ({"CLASSMOOD_DETECT_RECHECK": "-0.1"}, "CLASSMOOD_DETECT_RECHECK"),
        ({"CLASSMOOD_ANALYSIS_SLOTS": "-2"}, "CLASSMOOD_ANALYSIS_SLOTS"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"CLASSMOOD_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "CLASSMOOD_TRUSTED_PROXIES"),
        ({"CLASSMOOD_RETENTION_DAYS": "0"}, "CLASSMOOD_RETENTION_DAYS"),
        ({"CLASSMOOD_LOGIN_LIMIT": "0"}, "CLASSMOOD_LOGIN_LIMIT"),
        ({"CLASSMOOD_REPORT_MIN_PRESENT": "0"}, "CLASSMOOD_REPORT_MIN_PRESENT"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(environ, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        AppConfig.from_env(environ)


def test_trusted_proxies_are_read_as_networks_and_retention_in_days():
    config = AppConfig.from_env({"CLASSMOOD_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7", "CLASSMOOD_RETENTION_DAYS": "7"})
    assert config.trusted_proxies == ("10.0.0.0/8", "192.168.1.7/32")
    assert config.retention_s == 7 * 86400
    assert AppConfig().trusted_proxies == () and AppConfig().retention_days == 30


def test_inconsistent_values_name_both_variables():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_env({"CLASSMOOD_PRESENCE_TIMEOUT_S": "1", "CLASSMOOD_SAMPLE_INTERVAL_S": "2"})
    assert "CLASSMOOD_PRESENCE_TIMEOUT_S" in str(error.value) and "CLASSMOOD_SAMPLE_INTERVAL_S" in str(error.value)
    with pytest.raises(ConfigError) as error:
        AppConfig.from_env({"CLASSMOOD_ALERT_RELEASE_FRACTION": "0.9", "CLASSMOOD_ALERT_HOLD_FRACTION": "0.7"})
    assert "CLASSMOOD_ALERT_RELEASE_FRACTION" in str(error.value) and "CLASSMOOD_ALERT_HOLD_FRACTION" in str(error.value)


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError, match="analysis_fps"):
        AppConfig(analysis_fps=-3)
    assert AppConfig(data_dir="somewhere").data_dir == Path("somewhere")


def test_config_is_immutable():
    config = AppConfig()
    with pytest.raises(AttributeError):
        config.analysis_fps = 10  # type: ignore[misc]


def test_the_readme_settings_table_is_the_one_the_code_generates():
    from pathlib import Path

    from fer.config import settings_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    marker = "<!-- settings table: generated by `python -m fer settings`"
    after = readme[readme.index(marker):].split("\n")[1:]
    table = "\n".join(after[: next(i for i, line in enumerate(after) if not line.startswith("|"))])
    assert table == settings_table(), "README's settings table is stale: paste `python -m fer settings` over it"


def test_streamlits_upload_limit_is_the_apps_so_a_larger_body_is_refused_before_it_is_held():
    import tomllib

    streamlit = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert streamlit["server"]["maxUploadSize"] == AppConfig().max_upload_mb
    assert AppConfig().upload_limits().max_bytes == streamlit["server"]["maxUploadSize"] * 1024 * 1024


def test_upload_limits_and_who_may_analyze_come_from_the_environment():
    config = AppConfig.from_env({"CLASSMOOD_MAX_IMAGE_MEGAPIXELS": "12.5", "CLASSMOOD_MAX_VIDEO_FRAMES": "100",
                                 "CLASSMOOD_ANALYZE_ACCESS": " Open "})
    limits = config.upload_limits()
    assert (limits.max_image_pixels, limits.max_video_frames, config.analyze_access) == (12_500_000, 100, "open")
    assert AppConfig().analyze_access == "teacher"
    with pytest.raises(ConfigError, match="CLASSMOOD_ANALYZE_ACCESS must be one of teacher, open, off, got 'everyone'"):
        AppConfig.from_env({"CLASSMOOD_ANALYZE_ACCESS": "everyone"})
    with pytest.raises(ConfigError, match="CLASSMOOD_MAX_VIDEO_FRAMES must be >= 1"):
        AppConfig.from_env({"CLASSMOOD_MAX_VIDEO_FRAMES": "0"})


def test_the_second_look_score_is_parsed_and_reaches_the_apps_detector():
    assert AppConfig.from_env({}).analyzer_options().detect_recheck == 0  # off in the app: webcam faces are large
    config = AppConfig.from_env({"CLASSMOOD_DETECT_RECHECK": "0.25"})
    assert config.detect_recheck == 0.25 and config.analyzer_options().detect_recheck == 0.25
    assert AppConfig.from_env({"CLASSMOOD_DETECT_RECHECK": "0"}).analyzer_options().detect_recheck == 0


def test_uploads_are_searched_enlarged_with_a_second_look_and_a_full_search_on_every_frame():
    student, media = AppConfig.from_env({}).analyzer_options(), AppConfig.from_env({}).media_analyzer_options()
    assert (media.detect_max_side, media.detect_upscale, media.detect_recheck, media.detect_every) == (960, True, 0.2, 1)
    assert (media.model_path, media.detector, media.classifier_threads) == (student.model_path, student.detector, 1)
    assert student.detect_upscale is False
    config = AppConfig.from_env({"CLASSMOOD_MEDIA_DETECT_MAX_SIDE": "0", "CLASSMOOD_MEDIA_DETECT_RECHECK": "0"})
    assert (config.media_analyzer_options().detect_max_side, config.media_analyzer_options().detect_upscale) == (None, False)
    for bad in ({"CLASSMOOD_MEDIA_DETECT_MAX_SIDE": "10"}, {"CLASSMOOD_MEDIA_DETECT_RECHECK": "1"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            AppConfig.from_env(bad)


def test_the_sent_stream_and_the_students_preview_ask_the_camera_for_their_own_sizes():
    config = AppConfig.from_env({"CLASSMOOD_CAMERA_WIDTH": "320", "CLASSMOOD_CAMERA_FPS": "10",
                                 "CLASSMOOD_PREVIEW_WIDTH": "800"})
    sent, preview = config.media_stream_constraints(), config.preview_constraints()
    assert sent == {"video": {"width": {"ideal": 320}, "frameRate": {"ideal": 10.0, "max": 10.0}}, "audio": False}
    # The preview is the student's own video: sharp and not slowed to what the server is sent.
    assert preview == {"video": {"width": {"ideal": 800}}, "audio": False}
    with pytest.raises(ConfigError, match="CLASSMOOD_PREVIEW_WIDTH"):
        AppConfig.from_env({"CLASSMOOD_PREVIEW_WIDTH": "100"})
