"""The store's Prometheus metrics, by name, for any module to count with.

    from app import metrics
    metrics.PAYMENT_FAILURES.labels(provider="stripe", reason="card_declined").inc()

They are served by a separate HTTP server on METRICS_PORT (started by
gunicorn.conf.py, one for all the workers, bound to METRICS_BIND: a private
address), never by the public app. Under gunicorn each worker writes its
counts to PROMETHEUS_MULTIPROC_DIR and the metrics server adds them up
(prometheus-client's multiprocess mode); in a single process (tests,
`flask run`) they live in its memory.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "store_http_requests",
    "HTTP requests answered, by route (the URL rule), method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "store_http_request_seconds",
    "Seconds from a request's start to its response, by route.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ORDERS_PLACED = Counter(
    "store_orders_placed", "Orders placed, by payment method.", ["payment_method"]
)
PAYMENT_FAILURES = Counter(
    "store_payment_failures",
    "Payments that failed or were refused, by provider and reason.",
    ["provider", "reason"],
)
STOCK_OUTS = Counter(
    "store_stock_outs",
    "Cart lines a checkout refused because the stock no longer covered them.",
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    LATENCY.labels(route=route).observe(seconds)


class OutboxCollector(Collector):
    """The outbox's backlog, counted in the database at each scrape (the
    metrics server's own short connection, none kept open)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._engine: sa.Engine | None = None

    def collect(self):
        if self._engine is None:
            self._engine = sa.create_engine(
                self.database_url,
                poolclass=sa.pool.NullPool,
                **_quick(self.database_url),
            )
        backlog = GaugeMetricFamily(
            "store_outbox_backlog", "Emails waiting in the outbox (pending)."
        )
        oldest = GaugeMetricFamily(
            "store_outbox_oldest_due_seconds",
            "Seconds the most overdue pending email has waited past its time.",
        )
        up = GaugeMetricFamily(
            "store_outbox_counted", "1 when the outbox could be counted, else 0."
        )
        try:
            with self._engine.connect() as connection:
                pending, due = connection.execute(
                    sa.text(
                        "SELECT count(id), min(next_attempt_at) FROM outbox "
                        "WHERE status = 'pending'"
                    )
                ).one()
        except sa.exc.SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        if isinstance(due, str):  # SQLite hands timestamps back as text
            due = datetime.fromisoformat(due)
        now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as stored
        overdue = (now - due).total_seconds() if due is not None else 0
        backlog.add_metric([], pending)
        oldest.add_metric([], max(0, int(overdue)))
        up.add_metric([], 1)
        yield from (backlog, oldest, up)


def _quick(url: str) -> dict:
    """Connect options so a scrape never waits long on the database."""
    if url.startswith("postgresql"):
        return {
            "connect_args": {
                "connect_timeout": 2,
                "options": "-c statement_timeout=2000",
            }
        }
    return {"connect_args": {"timeout": 2}}


def registry(database_url: str | None = None) -> CollectorRegistry:
    """What the metrics server serves: the workers' counts added up under
    gunicorn (PROMETHEUS_MULTIPROC_DIR set), else this process's; and the
    outbox's backlog when a database is given."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        served = CollectorRegistry()
        multiprocess.MultiProcessCollector(served)
    else:
        served = REGISTRY
    if database_url:
        served.register(OutboxCollector(database_url))
    return served
