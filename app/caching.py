"""Values worked out at most once per N seconds, kept in app.extensions.cache
(Flask-Caching: each process's memory by default, Redis by setting).

What the cache holds is data, never code: the values are plain (numbers,
strings, lists and dicts of them) and a Redis cache stores them as JSON
(`JsonRedisCache`), so a value planted in a shared Redis is at worst a miss,
never something unpickled. A cache that is down or does not answer costs the
work: its calls have short timeouts (REDIS_TIMEOUT) and, after a failure,
are skipped for REDIS_RETRY_SECONDS (app/resilience.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from cachelib.serializers import BaseSerializer
from flask import Flask, current_app
from flask_caching.backends.rediscache import RedisCache

from app.extensions import cache
from app.resilience import CircuitBreaker

log = logging.getLogger(__name__)

T = TypeVar("T")

# Flask-Caching's Redis backend names, which the store replaces by its own.
REDIS_CACHE_TYPES = ("RedisCache", "redis", "flask_caching.backends.RedisCache")
JSON_REDIS_CACHE = "app.caching.JsonRedisCache"


class JsonSerializer(BaseSerializer):
    """JSON in and out; anything else read back (a pickle someone planted,
    garbage) is a miss. Whole numbers are stored as their digits, as
    Redis's INCR expects."""

    def dumps(self, value: Any, *args, **kwargs) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, value: bytes | None, *args, **kwargs) -> Any:
        if value is None:
            return None
        try:
            return json.loads(value)
        except (TypeError, ValueError, UnicodeDecodeError):
            log.warning("cache: a value that is not JSON was ignored")
            return None


class JsonRedisCache(RedisCache):
    """Flask-Caching's Redis cache, storing JSON instead of pickles."""

    serializer = JsonSerializer()


def init_app(app: Flask) -> None:
    """Point a Redis cache at JsonRedisCache, with the store's timeouts, and
    give this app its breaker (before cache.init_app reads the settings)."""
    config = app.config
    timeout = config["REDIS_TIMEOUT"]
    if config.get("CACHE_TYPE") in REDIS_CACHE_TYPES:
        config["CACHE_TYPE"] = JSON_REDIS_CACHE
    if config.get("CACHE_TYPE") == JSON_REDIS_CACHE:
        options = dict(config.get("CACHE_OPTIONS") or {})
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("socket_timeout", timeout)
        config["CACHE_OPTIONS"] = options
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith(("redis", "rediss")):
        options = dict(config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("socket_timeout", timeout)
        config["RATELIMIT_STORAGE_OPTIONS"] = options
    app.extensions["cache_breaker"] = CircuitBreaker(
        "cache", pause=config["REDIS_RETRY_SECONDS"]
    )


def _breaker() -> CircuitBreaker:
    return current_app.extensions["cache_breaker"]


def remembered(
    key: str,
    seconds: int,
    work: Callable[[], Any],
    load: Callable[[Any], T] = lambda value: value,
) -> T:
    """`load(work())`, or `load` of what `work()` returned less than
    `seconds` ago under `key`.

    `work` returns plain data (it is kept as JSON) and never None (None means
    "not cached"); `load` turns it into what the caller uses. 0 seconds means
    every call works it out (the test suite's setting). A cache that cannot be
    reached (Redis down or silent) costs the work, never the page.
    """
    if seconds <= 0:
        return load(work())
    breaker = _breaker()
    value = breaker.call(lambda: cache.get(key), fallback=None)
    if value is not None:
        try:
            return load(value)
        except (TypeError, ValueError, KeyError, IndexError):
            log.warning("cache: %s held a value of another shape", key)
    value = work()
    breaker.call(lambda: cache.set(key, value, timeout=seconds), fallback=None)
    return load(value)


def forget(key: str) -> None:
    """Drop what `remembered` keeps under `key` (an unreachable cache: nothing)."""
    _breaker().call(lambda: cache.delete(key), fallback=None)
