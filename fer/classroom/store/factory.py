"""Pick the store the settings ask for. The only module that imports the backends."""

from __future__ import annotations

import time
from typing import Callable

from fer.classroom.store.base import Store
from fer.config import AppConfig


def open_store(config: AppConfig, clock: Callable[[], float] = time.time) -> Store:
    """The store the configuration selects: Redis when ``REDIS_URL`` is set, else SQLite.

    The Redis store comes wrapped in a bounded write-behind buffer
    (:class:`fer.classroom.store.buffer.BufferedStore`): a network store can blink, and students'
    samples should wait out a Redis restart instead of being lost or stalling the video.
    Both modules are imported only here, so an app on SQLite never loads the Redis client.
    """
    if config.redis_url:
        from fer.classroom.store.buffer import BufferedStore
        from fer.classroom.store.redis import RedisStore

        return BufferedStore(RedisStore(config.redis_url, clock=clock, retention_s=config.retention_s))
    from fer.classroom.store.sqlite import SQLiteStore

    return SQLiteStore(config.data_dir, clock=clock, retention_s=config.retention_s)
