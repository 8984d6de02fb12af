"""Rate limits: per client and per room, with back-off, counted in a real store."""

from __future__ import annotations

import pytest

from fer.classroom.ratelimit import CREATE, JOIN, LOGIN, RateLimitedError, RateLimiter, client_address, wait_words
from fer.classroom.store.sqlite import SQLiteStore
from fer.config import AppConfig


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    with SQLiteStore(tmp_path, clock=clock) as s:
        yield s


def limiter(store, clock, **settings) -> RateLimiter:
    config = AppConfig(**{"rate_window_s": 60.0, "max_backoff_s": 600.0, **settings})
    return RateLimiter(store, config, clock=clock)


def test_attempts_within_the_limit_pass_and_the_next_is_refused_in_plain_words(store, clock):
    limits = limiter(store, clock, login_limit=3)
    for _ in range(3):
        limits.attempt(LOGIN, "10.0.0.1", "ABCD-EFGH")
    with pytest.raises(RateLimitedError, match=r"Too many teacher-key attempts from your connection.*wait 60 seconds") as refused:
        limits.attempt(LOGIN, "10.0.0.1", "ABCD-EFGH")
    assert refused.value.wait_s == 60
    limits.attempt(LOGIN, "10.0.0.2", "ABCD-EFGH")  # another client is not blocked


def test_a_room_is_protected_against_guessers_on_many_addresses(store, clock):
    limits = limiter(store, clock, login_limit=100, login_room_limit=5)
    for i in range(5):
        limits.attempt(LOGIN, f"10.0.0.{i}", "abcd efgh")
    with pytest.raises(RateLimitedError, match="on this room"):
        limits.attempt(LOGIN, "10.0.0.99", "ABCD-EFGH")
    limits.attempt(LOGIN, "10.0.0.99", "ZZZZ-ZZZZ")  # another room is open to that client


def test_the_block_lasts_its_wait_and_doubles_for_a_repeat_offender(store, clock):
    limits = limiter(store, clock, create_limit=2)
    waits = []
    for _ in range(4):
        for _ in range(2):
            limits.attempt(CREATE, "10.0.0.1")
        with pytest.raises(RateLimitedError) as refused:
            limits.attempt(CREATE, "10.0.0.1")
        waits.append(refused.value.wait_s)
        clock.now += refused.value.wait_s - 1
        with pytest.raises(RateLimitedError):  # still blocked one second before the end
            limits.attempt(CREATE, "10.0.0.1")
        clock.now += 1
    assert waits == [60, 120, 240, 480]
    for _ in range(3):  # the cap
        for _ in range(2):
            limits.attempt(CREATE, "10.0.0.1")
        with pytest.raises(RateLimitedError) as refused:
            limits.attempt(CREATE, "10.0.0.1")
        clock.now += refused.value.wait_s
    assert refused.value.wait_s == 600


def test_joins_are_limited_per_client_and_per_room(store, clock):
    limits = limiter(store, clock, join_limit=2, join_room_limit=3)
    limits.attempt(JOIN, "a", "ABCD-EFGH")
    limits.attempt(JOIN, "a", "ABCD-EFGH")
    with pytest.raises(RateLimitedError, match="joins from your connection"):
        limits.attempt(JOIN, "a", "ABCD-EFGH")
    limits.attempt(JOIN, "b", "ABCD-EFGH")
    with pytest.raises(RateLimitedError, match="joins on this room"):
        limits.attempt(JOIN, "c", "ABCD-EFGH")


def test_two_app_processes_share_one_count(tmp_path, clock):
    with SQLiteStore(tmp_path, clock=clock) as one, SQLiteStore(tmp_path, clock=clock) as two:
        a, b = limiter(one, clock, login_limit=2), limiter(two, clock, login_limit=2)
        a.attempt(LOGIN, "x")
        b.attempt(LOGIN, "x")
        with pytest.raises(RateLimitedError):
            a.attempt(LOGIN, "x")


def test_redis_counts_for_every_replica(redis_url, clock):
    from fer.classroom.store.redis import RedisStore

    with RedisStore(redis_url, clock=clock) as one, RedisStore(redis_url, clock=clock) as two:
        a, b = limiter(one, clock, join_limit=1), limiter(two, clock, join_limit=1)
        a.attempt(JOIN, "x")
        with pytest.raises(RateLimitedError):
            b.attempt(JOIN, "x")
        clock.now += 60
        b.attempt(JOIN, "x")


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    trusted = ["10.0.0.0/8"]
    assert client_address("203.0.113.9", "1.2.3.4", trusted) == "203.0.113.9"  # a visitor's own header
    assert client_address("10.0.0.5", "198.51.100.7", trusted) == "198.51.100.7"
    # The client may prepend anything; the hop our proxy appended is the last untrusted one.
    assert client_address("10.0.0.5", "1.2.3.4, 198.51.100.7, 10.1.1.1", trusted) == "198.51.100.7"
    assert client_address("10.0.0.5", "not an address", trusted) == "10.0.0.5"
    assert client_address("10.0.0.5", "198.51.100.7", []) == "10.0.0.5"
    assert client_address(None, None, trusted) == "unknown"


def test_waits_are_said_as_a_person_says_them():
    assert [wait_words(s) for s in (0.2, 1, 45, 60, 600, 3600, 7200)] == [
        "1 second", "1 second", "45 seconds", "60 seconds", "10 minutes", "60 minutes", "2 hours"
    ]
