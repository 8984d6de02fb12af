"""Rate limits on wrong teacher keys, room creation and joins, counted in the store.

A teacher key costs a deliberate 50 ms of scrypt to check, so unlimited guesses would both
search the key space and fill the server's cores; unlimited room creation or joins fill the
store. Each action is limited per client address and, where a room is named, per room
(a guesser spread over many addresses still hits the room's limit). The counters live in
the store (:meth:`fer.classroom.store.base.Store.hit`), so every app process, and every
replica behind one Redis, shares them.

Back-off: the first refusal blocks that client (or room) for one window; each refusal in a
row after a block doubles the wait, up to ``max_backoff_s``, and the refusal says in plain
words how long to wait. A quiet day forgets the strikes.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from fer.classroom.rooms import RoomError, UnknownRoomError, normalize_room_code
from fer.classroom.store.base import Store
from fer.config import AppConfig

#: How long a client's strikes are remembered for the back-off.
STRIKE_MEMORY_S = 86400.0

LOGIN, CREATE, JOIN = "login", "create", "join"

#: What the person was trying to do, for the refusal's wording.
_DOING = {LOGIN: "teacher-key attempts", CREATE: "new rooms", JOIN: "joins"}


class RateLimitedError(RoomError):
    """Too many attempts; ``wait_s`` says how long until the next one is accepted."""

    def __init__(self, message: str, wait_s: float):
        super().__init__(message)
        self.wait_s = wait_s


@dataclass(frozen=True)
class Limit:
    """At most ``max_hits`` attempts per ``window_s`` for one client or one room."""

    max_hits: int
    window_s: float


def wait_words(seconds: float) -> str:
    """``"45 seconds"``, ``"10 minutes"``, ``"1 hour"``: rounded up, as a person says it."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours = math.ceil(minutes / 60)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def client_address(peer: str | None, forwarded_for: str | None, trusted: Iterable[str]) -> str:
    """The address a rate limit counts against.

    ``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy; then its
    entries are read from the right (the proxy nearest to us appends last) and the first one
    that is not itself a trusted proxy is the client. Anyone can send the header, so trusting
    it from anywhere would let each request pick a fresh identity.
    """
    networks = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def is_trusted(text: str) -> bool:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return False
        return any(address in network for network in networks)

    peer = (peer or "").strip() or "unknown"
    if not forwarded_for or not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled header: count against the proxy rather than a made-up name
    return peer


class RateLimiter:
    """The limits of :class:`fer.config.AppConfig`, counted in ``store``."""

    def __init__(self, store: Store, config: AppConfig, clock: Callable[[], float] = time.time):
        self.store = store
        self.max_backoff_s = config.max_backoff_s
        window = config.rate_window_s
        self.limits: dict[tuple[str, str], Limit] = {
            (LOGIN, "client"): Limit(config.login_limit, window),
            (LOGIN, "room"): Limit(config.login_room_limit, window),
            (CREATE, "client"): Limit(config.create_limit, window),
            (JOIN, "client"): Limit(config.join_limit, window),
            (JOIN, "room"): Limit(config.join_room_limit, window),
        }
        self._clock = clock

    def attempt(self, action: str, client: str, room: str | None = None) -> None:
        """Count one attempt of ``action``; :class:`RateLimitedError` when it is one too many.

        Call it before the expensive or storing part (the scrypt check, the insert), so a
        refused attempt costs almost nothing.
        """
        subjects = [("client", client)]
        if room and (action, "room") in self.limits:
            try:
                subjects.append(("room", normalize_room_code(room)))
            except UnknownRoomError:
                pass  # not a room code: the client's own limit still counts it
        for per, who in subjects:  # an ongoing block refuses without counting
            blocked = self.store.counter(self._key("block", action, per, who))
            if blocked is not None:
                raise self._refusal(action, per, blocked[1] - self._clock())
        for per, who in subjects:
            limit = self.limits[(action, per)]
            window = math.floor(self._clock() / limit.window_s)
            hits = self.store.hit(self._key("hits", action, per, who, str(window)), limit.window_s)
            if hits > limit.max_hits:
                strikes = self.store.hit(self._key("strikes", action, per, who), STRIKE_MEMORY_S)
                wait = min(self.max_backoff_s, limit.window_s * 2 ** min(strikes - 1, 30))
                self.store.hit(self._key("block", action, per, who), wait)
                raise self._refusal(action, per, wait)

    @staticmethod
    def _key(*parts: str) -> str:
        return "ratelimit:" + ":".join(parts)

    @staticmethod
    def _refusal(action: str, per: str, wait_s: float) -> RateLimitedError:
        source = "from your connection" if per == "client" else "on this room"
        return RateLimitedError(
            f"Too many {_DOING.get(action, 'attempts')} {source} in a short time. "
            f"Please wait {wait_words(wait_s)}, then try again.",
            wait_s,
        )
