"""Short-lived TURN credentials for each student session (the TURN REST scheme).

A TURN server relays a student's video when their network blocks direct WebRTC, which is
common on school and home networks. Static credentials in ``CLASSMOOD_ICE_SERVERS`` reach
every browser that opens the join page and never expire, so anyone could keep using the
school's TURN server as a free relay. Instead the app and the TURN server share a secret
(coturn's ``use-auth-secret`` / ``static-auth-secret``), and the app hands each student
session its own credential:

- username ``"<expiry>:<id>"``, the expiry in Unix seconds and the id the student's;
- password ``base64(HMAC-SHA1(secret, username))``.

The TURN server recomputes the password from the username and refuses one that does not
match (forged) or whose expiry has passed, so no credential outlives its time-to-live and
nothing has to be stored or revoked. coturn checks the expiry again when an allocation is
refreshed, so the time-to-live must outlast the longest lecture a relayed student sits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from fer.config import AppConfig

#: Characters allowed in the id part: the username travels in a STUN attribute and in the
#: TURN server's log, so it stays plain and carries no name a visitor typed.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class TurnCredential:
    """One session's TURN login; ``expires_at`` in Unix seconds."""

    urls: tuple[str, ...]
    username: str
    password: str
    expires_at: int

    def ice_server(self) -> dict[str, Any]:
        """The ``RTCIceServer`` a browser takes."""
        return {"urls": list(self.urls), "username": self.username, "credential": self.password}

    def __repr__(self) -> str:  # the password is a secret for its lifetime: keep it out of logs
        return f"TurnCredential(urls={self.urls!r}, username={self.username!r}, expires_at={self.expires_at})"


def turn_password(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)): what the TURN server recomputes."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def issue(secret: str, urls: tuple[str, ...], session_id: str, ttl_s: float, now: float) -> TurnCredential:
    """A credential for ``session_id`` valid until ``now + ttl_s`` (whole seconds)."""
    if not _ID.fullmatch(session_id):
        raise ValueError(f"a TURN session id is 1-64 letters, digits, '-' or '_', got {session_id[:70]!r}")
    expires_at = int(now + ttl_s)
    username = f"{expires_at}:{session_id}"
    return TurnCredential(tuple(urls), username, turn_password(secret, username), expires_at)


def session_credential(
    cfg: AppConfig, session_id: str, previous: TurnCredential | None = None, clock: Callable[[], float] = time.time
) -> TurnCredential | None:
    """The credential of a student session, or ``None`` without a TURN secret configured.

    ``previous`` (the one the session holds) is kept while more than half its time-to-live
    is left, so reruns of the page do not hand the camera component a new configuration each
    time; after that a new one is issued, which the next connection of the session uses.
    """
    if cfg.turn_secret is None:
        return None
    now = clock()
    if previous is not None and previous.expires_at - now > cfg.turn_ttl_s / 2 and previous.urls == cfg.turn_urls:
        return previous
    return issue(cfg.turn_secret, cfg.turn_urls, session_id, cfg.turn_ttl_s, now)


def browser_rtc_configuration(cfg: AppConfig, credential: TurnCredential | None) -> dict[str, Any]:
    """The browser's ``RTCConfiguration``: the static ICE servers, then the session's TURN server.

    Only the browser gets the TURN login: the app's own WebRTC end (aiortc) sits next to the
    TURN server and is reached by the relay, so it needs none (``cfg.rtc_configuration()``).
    """
    servers = cfg.rtc_configuration()["iceServers"]
    if credential is not None:
        servers.append(credential.ice_server())
    return {"iceServers": servers}
