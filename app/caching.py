"""Values worked out at most once per N seconds, kept in app.extensions.cache
(Flask-Caching: each process's memory by default, Redis by setting)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from app.extensions import cache

log = logging.getLogger(__name__)

T = TypeVar("T")


def remembered(key: str, seconds: int, work: Callable[[], T]) -> T:
    """`work()`, or what it returned less than `seconds` ago under `key`.

    0 seconds means every call works it out (the test suite's setting). The
    value must pickle, and must not be None (None means "not cached"). A cache
    that cannot be reached (Redis down) costs the work, never the page.
    """
    if seconds <= 0:
        return work()
    try:
        value = cache.get(key)
    except Exception:  # any backend's connection error
        log.warning("cache unreachable: working %s out", key, exc_info=True)
        return work()
    if value is None:
        value = work()
        try:
            cache.set(key, value, timeout=seconds)
        except Exception:
            log.warning("cache unreachable: %s not kept", key, exc_info=True)
    return value


def forget(key: str) -> None:
    """Drop what `remembered` keeps under `key` (an unreachable cache: nothing)."""
    try:
        cache.delete(key)
    except Exception:
        log.warning("cache unreachable: %s not forgotten", key, exc_info=True)
