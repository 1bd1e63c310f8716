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

from flask import Flask, current_app, g, request

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


class Unavailable(Exception):
    """The store cannot take this request now: answered with the 503 page."""


def init_app(app: Flask) -> None:
    """Give the app its write slots (WRITE_SLOTS, WRITE_SLOT_WAIT)."""
    app.extensions["write_slots"] = WriteSlots(
        app.config["WRITE_SLOTS"], app.config["WRITE_SLOT_WAIT"]
    )
    app.before_request(_take_write_slot)
    app.teardown_request(_give_write_slot_back)


def _take_write_slot() -> None:
    if request.method != "POST":
        return
    if not current_app.extensions["write_slots"].enter():
        raise Unavailable("no write slot came free")
    g.write_slot = True


def _give_write_slot_back(_error: BaseException | None) -> None:
    if g.pop("write_slot", False):
        current_app.extensions["write_slots"].leave()


class WriteSlots:
    """At most `slots` POSTs at once in this process (0: no limit).

    Only a write can wait on a lock (PostgreSQL's reads never wait on row
    locks, SQLite's WAL readers never wait on the writer), so keeping a
    thread of each gunicorn worker free of writes keeps the catalogue,
    /healthz and static files answering while writes queue on a held lock.
    A POST that finds no slot within `wait` seconds gets the 503 page at once
    (nothing written) instead of holding a thread. gunicorn.conf.py sets
    WRITE_SLOTS to one less than the worker's threads.
    """

    def __init__(self, slots: int, wait: float) -> None:
        self.slots, self.wait = slots, wait
        self._semaphore = threading.BoundedSemaphore(slots) if slots > 0 else None

    def enter(self) -> bool:
        """Take a slot for this request; False when none came free in time."""
        if self._semaphore is None:
            return True
        return self._semaphore.acquire(timeout=self.wait)

    def leave(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
