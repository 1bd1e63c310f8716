"""Routes that belong to no feature: the front page and the health checks.

`/healthz` is the original check (the database), kept as it is for the
clients that use it; `/healthz/live` says the process answers (it touches
nothing), and `/healthz/ready` says whether it can serve: the database, the
Redis of the cache and of the limiter, and how overdue the outbox's oldest
email is.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, url_for

from app.extensions import cache, db, limiter
from app.models import OutboxMessage, utcnow

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """The front page is the catalogue."""
    return redirect(url_for("items.index"))


def _database_up() -> bool:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return False
    return True


@bp.get("/healthz")
def healthz():
    """200 when the database answers a trivial query, 503 when it does not."""
    if not _database_up():
        return {"status": "unavailable", "database": "down"}, 503
    return {"status": "ok", "database": "up"}


@bp.get("/healthz/live")
def live():
    """200 while the process answers requests: for a supervisor's restart check."""
    return {"status": "ok"}


@bp.get("/healthz/ready")
def ready():
    """200 when the store can serve (its database answers), else 503; with
    the state of what it can do without: Redis (`unused` when not set up;
    `down` costs work, not pages) and the outbox (seconds its most overdue
    email has waited, and `stale` past OUTBOX_STALE_SECONDS: a worker is
    needed)."""
    database = _database_up()
    report: dict = {
        "status": "ok" if database else "unavailable",
        "database": "up" if database else "down",
        "cache": _cache_state(),
        "limiter": _limiter_state(),
    }
    if database:
        overdue = _outbox_overdue_seconds()
        report["outbox_overdue_seconds"] = overdue
        report["outbox"] = (
            "stale" if overdue > current_app.config["OUTBOX_STALE_SECONDS"] else "ok"
        )
    return report, 200 if database else 503


def _cache_state() -> str:
    client = getattr(cache.cache, "_read_client", None)  # a Redis cache only
    if client is None:
        return "unused"
    try:
        client.ping()
    except Exception:  # any Redis error: down, whatever its kind
        return "down"
    return "up"


def _limiter_state() -> str:
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        return "unused"
    try:
        return "up" if limiter.storage.check() else "down"
    except Exception:
        return "down"


def _outbox_overdue_seconds() -> int:
    """How long the oldest due, unsent email has waited past its time (0: none)."""
    oldest = db.session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == "pending"
        )
    )
    if oldest is None:
        return 0
    return max(0, int((utcnow() - oldest).total_seconds()))
