"""TURN credentials per student session: the REST scheme's password, their expiry, and a real
coturn that grants a relay to a fresh credential and refuses an expired or forged one."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fer.classroom.turn import browser_rtc_configuration, issue, session_credential, turn_password
from fer.config import AppConfig, ConfigError
from turn_client import CoturnServer, allocate

SECRET = "a-long-shared-turn-secret-for-tests"
TURN_ENV = {"CLASSMOOD_TURN_SECRET": SECRET, "CLASSMOOD_TURN_URLS": "turn:turn.example.org:3478?transport=udp, turn:turn.example.org:3478?transport=tcp"}


def openssl_password(secret: str, username: str) -> str:
    """The same password computed by OpenSSL, independently of Python's hmac."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    mac = subprocess.run(["openssl", "dgst", "-sha1", "-hmac", secret, "-binary"], input=username.encode(),
                         capture_output=True, check=True).stdout
    return subprocess.run(["openssl", "base64", "-A"], input=mac, capture_output=True, check=True).stdout.decode()


def test_the_password_is_base64_of_hmac_sha1_of_the_username_as_openssl_computes_it():
    for secret, username in ((SECRET, "1700003600:stu_abc"), ("another secret of some length", "4102444800:x-Y_9")):
        assert turn_password(secret, username) == openssl_password(secret, username)


def test_a_credential_names_its_expiry_and_the_session_and_expires_after_its_time_to_live():
    credential = issue(SECRET, ("turn:t.example:3478",), "stu_abc", ttl_s=600, now=1_700_000_000.7)
    assert credential.username == "1700000600:stu_abc" and credential.expires_at == 1_700_000_600
    assert credential.password == turn_password(SECRET, "1700000600:stu_abc")
    assert SECRET not in repr(credential) and credential.password not in repr(credential)
    with pytest.raises(ValueError, match="session id"):
        issue(SECRET, ("turn:t.example",), "Ann: <b>", 600, 0)


def test_each_session_gets_its_own_credential_kept_until_half_its_lifetime_is_gone():
    cfg = AppConfig.from_env({**TURN_ENV, "CLASSMOOD_TURN_TTL_S": "600"})
    now = [1_000_000.0]
    ann = session_credential(cfg, "ann", clock=lambda: now[0])
    bo = session_credential(cfg, "bo", clock=lambda: now[0])
    assert ann.username != bo.username and ann.password != bo.password
    now[0] += 299
    assert session_credential(cfg, "ann", previous=ann, clock=lambda: now[0]) is ann
    now[0] += 2
    renewed = session_credential(cfg, "ann", previous=ann, clock=lambda: now[0])
    assert renewed.expires_at == int(now[0] + 600) and renewed.password != ann.password


def test_the_browser_gets_static_servers_and_its_session_login_and_no_secret_means_no_turn_login():
    static = '[{"urls": "stun:stun.example.org:3478"}]'
    cfg = AppConfig.from_env({**TURN_ENV, "CLASSMOOD_ICE_SERVERS": static})
    credential = session_credential(cfg, "ann")
    servers = browser_rtc_configuration(cfg, credential)["iceServers"]
    assert servers[0] == {"urls": "stun:stun.example.org:3478"}
    assert servers[1] == {"urls": ["turn:turn.example.org:3478?transport=udp", "turn:turn.example.org:3478?transport=tcp"],
                          "username": credential.username, "credential": credential.password}
    assert cfg.rtc_configuration() == {"iceServers": [{"urls": "stun:stun.example.org:3478"}]}  # the server's end
    plain = AppConfig.from_env({"CLASSMOOD_ICE_SERVERS": static})
    assert session_credential(plain, "ann") is None
    assert browser_rtc_configuration(plain, None) == plain.rtc_configuration()


@pytest.mark.parametrize("env, message", [
    ({"CLASSMOOD_TURN_SECRET": "short"}, "CLASSMOOD_TURN_SECRET must be at least 16 characters"),
    ({"CLASSMOOD_TURN_SECRET": SECRET}, "CLASSMOOD_TURN_URLS must list"),
    ({"CLASSMOOD_TURN_URLS": "turn:t.example:3478"}, "CLASSMOOD_TURN_SECRET must be set"),
    ({**TURN_ENV, "CLASSMOOD_TURN_URLS": "stun:t.example:3478"}, "CLASSMOOD_TURN_URLS must hold turn:"),
    ({**TURN_ENV, "CLASSMOOD_TURN_TTL_S": "5"}, "CLASSMOOD_TURN_TTL_S must be in"),
])
def test_turn_settings_that_cannot_work_are_refused_naming_the_variable_and_never_the_secret(env, message):
    with pytest.raises(ConfigError, match=message) as error:
        AppConfig.from_env(env)
    assert SECRET not in str(error.value) and "short" not in str(error.value)


def test_coturn_relays_for_a_fresh_credential_and_refuses_an_expired_or_forged_one(tmp_path):
    import time

    with CoturnServer(tmp_path / "turn", SECRET) as turn:
        fresh = issue(SECRET, (f"turn:127.0.0.1:{turn.port}",), "ann", ttl_s=600, now=time.time())
        granted = allocate("127.0.0.1", turn.port, fresh.username, fresh.password)
        assert granted.allocated and granted.relayed is not None, granted

        expired = issue(SECRET, (f"turn:127.0.0.1:{turn.port}",), "ann", ttl_s=600, now=time.time() - 601)
        refused = allocate("127.0.0.1", turn.port, expired.username, expired.password)
        assert refused.code == 401, refused  # the password is right, the time is up

        forged = allocate("127.0.0.1", turn.port, fresh.username.replace(":ann", ":bo"), fresh.password)
        assert forged.code == 401, forged
        longer = f"{fresh.expires_at + 86400}:ann"  # a visitor extending their own login
        assert allocate("127.0.0.1", turn.port, longer, fresh.password).code == 401
        wrong_secret = issue("not-the-school-s-secret-at-all", (), "ann", 600, time.time())
        assert allocate("127.0.0.1", turn.port, wrong_secret.username, wrong_secret.password).code == 401
