"""Routes that belong to no feature: the front page, the health checks, and
what crawlers read (the sitemap and robots.txt).

`/healthz` is the original check (the database), kept as it is for the
clients that use it; `/healthz/live` says the process answers (it touches
nothing), and `/healthz/ready` says whether it can serve: the database, the
Redis of the cache and of the limiter, and how overdue the outbox's oldest
email is.
"""

from __future__ import annotations

from datetime import datetime
from math import ceil
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, redirect, url_for

from app.content import PAGES
from app.extensions import cache, db, limiter
from app.limits import SITEMAP_ITEMS_MAX, SITEMAP_URLS_MAX
from app.models import Item, OutboxMessage, StoreTotals, utcnow
from app.templating import site_url

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITEMAP_CACHE_SECONDS = 3600
# Public pages under a folder the rules below close (longest rule wins).
ROBOTS_ALLOW = ("/users/login", "/users/register")
# Pages that are one visitor's own, or an admin's: never worth a crawl.
ROBOTS_DISALLOW = (
    "/purchases/",
    "/users/",
    "/audit/",
    "/mail/",
    "/items/new",
    "/items/manage",
    "/items/import",
    "/items/*/edit",
    "/pages/*/edit",
)

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


def _live_items() -> int:
    return db.session.scalar(sa.select(StoreTotals.live_items)) or 0


def _xml(body: str) -> Response:
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + body,
        mimetype="application/xml",
        headers={"Cache-Control": f"public, max-age={SITEMAP_CACHE_SECONDS}"},
    )


def _url_entry(path: str, updated: datetime | None = None) -> str:
    lastmod = f"<lastmod>{updated:%Y-%m-%d}</lastmod>" if updated else ""
    return f"<url><loc>{escape(site_url(path))}</loc>{lastmod}</url>"


@bp.get("/sitemap.xml")
def sitemap():
    """A sitemap index: the shop's pages, then the live items
    SITEMAP_URLS_MAX to a file, SITEMAP_ITEMS_MAX in all."""
    files = ceil(min(_live_items(), SITEMAP_ITEMS_MAX) / SITEMAP_URLS_MAX)
    paths = [url_for("main.sitemap_pages")] + [
        url_for("main.sitemap_items", part=n) for n in range(1, files + 1)
    ]
    entries = "".join(
        f"<sitemap><loc>{escape(site_url(path))}</loc></sitemap>" for path in paths
    )
    return _xml(f'<sitemapindex xmlns="{SITEMAP_NS}">{entries}</sitemapindex>')


@bp.get("/sitemap-pages.xml")
def sitemap_pages():
    """The catalogue's front and the shop's own pages."""
    paths = [url_for("items.index")] + [
        url_for("pages.show", slug=slug) for slug in PAGES
    ]
    entries = "".join(_url_entry(path) for path in paths)
    return _xml(f'<urlset xmlns="{SITEMAP_NS}">{entries}</urlset>')


@bp.get("/sitemap-items-<int(min=1):part>.xml")
def sitemap_items(part: int):
    """One file of live items, by id, with the day each last changed."""
    start = (part - 1) * SITEMAP_URLS_MAX
    if start >= min(_live_items(), SITEMAP_ITEMS_MAX):
        abort(404)
    rows = db.session.execute(
        sa.select(Item.id, Item.updated_at)
        .where(Item.archived_at.is_(None))
        .order_by(Item.id)
        .offset(start)
        .limit(min(SITEMAP_URLS_MAX, SITEMAP_ITEMS_MAX - start))
    )
    base = url_for("items.index")
    entries = "".join(_url_entry(f"{base}{id_}", updated) for id_, updated in rows)
    return _xml(f'<urlset xmlns="{SITEMAP_NS}">{entries}</urlset>')


@bp.get("/robots.txt")
def robots():
    """Crawl the catalogue, items and pages; not the carts, accounts or admin."""
    lines = ["User-agent: *"]
    lines += [f"Allow: {path}" for path in ROBOTS_ALLOW]
    lines += [f"Disallow: {path}" for path in ROBOTS_DISALLOW]
    lines += ["", f"Sitemap: {site_url(url_for('main.sitemap'))}", ""]
    return Response(
        "\n".join(lines),
        mimetype="text/plain",
        headers={"Cache-Control": f"public, max-age={SITEMAP_CACHE_SECONDS}"},
    )
