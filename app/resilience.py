"""A pause after a failure (a circuit breaker) for the services the store
can do without for a while: the cache's Redis, the mail server, a payment
provider.

Each call to such a service already has short timeouts of its own; the
breaker stops every request from paying them again while the service is
down. After a failure it stays open for `pause` seconds, during which callers
skip the service (the cache works the value out, the limiter counts in
memory); the first call after the pause tries again, and a success closes it.

    breaker = CircuitBreaker("cache", pause=30)
    value = breaker.call(lambda: redis.get(key), fallback=None)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class CircuitBreaker:
    """Skip a failing service for `pause` seconds after each failure."""

    def __init__(self, name: str, pause: float = 30) -> None:
        self.name, self.pause = name, pause
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether calls skip the service now."""
        return time.monotonic() < self._open_until

    def failed(self, error: BaseException | None = None) -> None:
        with self._lock:
            was_open = self.is_open
            self._open_until = time.monotonic() + self.pause
        if not was_open:
            log.warning(
                "%s unreachable (%s): skipped for %ss",
                self.name,
                type(error).__name__ if error else "failure",
                self.pause,
            )

    def succeeded(self) -> None:
        self._open_until = 0.0

    def call(
        self,
        work: Callable[[], T],
        fallback: T,
        errors: tuple[type[BaseException], ...] = (Exception,),
    ) -> T:
        """`work()`, or `fallback` when it fails or the breaker is open."""
        if self.is_open:
            return fallback
        try:
            result = work()
        except errors as error:
            self.failed(error)
            return fallback
        self.succeeded()
        return result
