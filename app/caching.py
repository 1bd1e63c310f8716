"""Values worked out at most once per N seconds, kept in app.extensions.cache
(Flask-Caching: each process's memory by default, Redis by setting)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from app.extensions import cache

T = TypeVar("T")


def remembered(key: str, seconds: int, work: Callable[[], T]) -> T:
    """`work()`, or what it returned less than `seconds` ago under `key`.

    0 seconds means every call works it out (the test suite's setting). The
    value must pickle, and must not be None (None means "not cached").
    """
    if seconds <= 0:
        return work()
    value = cache.get(key)
    if value is None:
        value = work()
        cache.set(key, value, timeout=seconds)
    return value
