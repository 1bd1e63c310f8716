"""Recommendations: "customers who bought this also bought" and "popular" items.

Both read a bounded, recent sample of purchase lines through the user_items
indexes, so their cost does not grow with the store's history: the page of a
best seller with 80,000 purchase lines reads at most a few thousand of them.

- also_bought(item): the item's latest SAMPLE_LINES purchase lines give its
  recent buyers; each buyer's latest BUYER_LINES lines give what they bought;
  the other items rank by how many of those buyers bought them (ties: the most
  recent co-purchase first). Popular items fill the places left, if any.
- popular(): the items bought by the most distinct buyers among the store's
  latest POPULAR_LINES purchase lines (ties: the most recently bought first).

Only live, in-stock items are shown. That is checked for the best
CANDIDATES_PER_SLOT × limit candidates only (a primary-key lookup each, not a
join of every candidate): should most of those be archived or sold out, the
block shows fewer co-purchases and more popular items. Only item columns leave
the database, so no buyer is ever named. Each function is one SQL statement,
the same on SQLite and PostgreSQL, built once per process and run with bound
parameters (building these nested selects costs more than running them).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache as build_once
from typing import NamedTuple

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from app.caching import remembered
from app.database import sql_literal
from app.extensions import db
from app.models import Item, UserItem, first_image_columns

SAMPLE_LINES = 100  # the item's latest purchase lines: whose baskets to read
BUYER_LINES = 20  # each of those buyers' latest lines: what else they bought
POPULAR_LINES = 2_000  # the store's latest lines: what "popular" means
CANDIDATES_PER_SLOT = 4  # best candidates checked for being on sale, per place
# Earlier than any purchase: the cut-off for a buyer with fewer lines than BUYER_LINES.
DAWN = datetime(1970, 1, 1)


def also_bought(item_id: int, limit: int = 6) -> list[sa.Row]:
    """Up to `limit` live, in-stock items that the item's recent buyers also
    bought, best first, then popular items to fill up: rows of (id, name,
    price_cents, stock) and its first picture's columns."""
    params = {
        "item_id": item_id,
        "sample_lines": SAMPLE_LINES,
        "buyer_offset": BUYER_LINES - 1,
    }
    return list(db.session.execute(_also_bought(), params | _common(limit)))


class Card(NamedTuple):
    """What a recommendation block shows of an item (and all the cache keeps)."""

    id: int
    name: str
    price_cents: int
    stock: int
    # Its first picture (templates/items/_cards.html), if it has one.
    image_key: str | None = None
    image_widths: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    image_alt: str | None = None


def popular_cached(limit: int = 6) -> list[Card]:
    """popular(), ranked at most once per POPULAR_CACHE_SECONDS.

    The block is the same for every visitor of the catalogue's landing page,
    the busiest page of the store, so its ranking need not be worked out per
    request; the cards' prices and stock are read as they are now (see
    `current_cards`), so the block never shows an old price or stock.
    """
    seconds = current_app.config["POPULAR_CACHE_SECONDS"]
    if seconds <= 0:
        return [Card(*row) for row in popular(limit)]
    ranked = remembered(
        f"popular-ids:{limit}", seconds, lambda: [row.id for row in popular(limit)]
    )
    return current_cards(ranked)


def also_bought_cached(item_id: int, limit: int = 6) -> list[Card]:
    """also_bought(), ranked at most once per ALSO_BOUGHT_CACHE_SECONDS per
    item: a best seller's page is the one most visited, and its block is the
    same for every visitor. The cards are read as they are now."""
    seconds = current_app.config["ALSO_BOUGHT_CACHE_SECONDS"]
    if seconds <= 0:
        return [Card(*row) for row in also_bought(item_id, limit)]
    ranked = remembered(
        f"also-bought-ids:{item_id}:{limit}",
        seconds,
        lambda: [row.id for row in also_bought(item_id, limit)],
    )
    return current_cards(ranked)


def current_cards(ids: list[int]) -> list[Card]:
    """The cards of a remembered ranking as the items are now, in its order:
    one primary-key lookup of at most a few rows. An item archived or sold
    out since it was ranked drops out."""
    if not ids:
        return []
    rows = db.session.execute(
        sa.select(
            Item.id, Item.name, Item.price_cents, Item.stock, *first_image_columns()
        ).where(Item.id.in_(ids), Item.archived_at.is_(None), Item.stock > 0)
    )
    cards = {row.id: Card(*row) for row in rows}
    return [cards[i] for i in ids if i in cards]


def popular(limit: int = 6) -> list[sa.Row]:
    """Up to `limit` live, in-stock items bought by the most distinct buyers
    lately: rows of (id, name, price_cents, stock) and its first picture's columns."""
    return list(db.session.execute(_popular(), _common(limit)))


def _common(limit: int) -> dict[str, int]:
    return {
        "limit": limit,
        "candidates": CANDIDATES_PER_SLOT * limit,
        "popular_lines": POPULAR_LINES,
    }


# The item id, sizes and constants are written into the SQL when it runs
# (app.database.sql_literal): a prepared plan made for an average item would
# sort a best seller's every line.


@build_once
def _also_bought() -> sa.Select:
    item_id = sql_literal(name="item_id")
    co_bought = _on_sale(_co_bought(item_id)).cte("co_bought")
    recent = _recent_buyer_counts().subquery("recent")
    # Worked out once, before the popular half runs: none of it runs when the
    # co-purchases fill the block (a LIMIT of 0 reads nothing on either engine).
    places_left = (
        sa.select(sql_literal(name="limit") - sa.func.count())
        .select_from(co_bought)
        .scalar_subquery()
    )
    fill = _on_sale(
        sa.select(recent).where(
            recent.c.item_id != item_id,
            recent.c.item_id.not_in(sa.select(co_bought.c.id)),
        ),
        places_left,
    ).subquery("fill")
    ranked = sa.union_all(
        sa.select(co_bought, sql_literal(0).label("tier")),
        sa.select(fill, sql_literal(1).label("tier")),
    ).subquery("ranked")
    return _best(ranked, ranked.c.tier.asc())


@build_once
def _popular() -> sa.Select:
    return _best(_on_sale(_recent_buyer_counts()).subquery("ranked"))


def _co_bought(item_id: sa.BindParameter[int]) -> sa.Select:
    """(item_id, buyers, last_bought) of what the item's recent buyers bought."""
    sample = (
        sa.select(UserItem.user_id)
        .where(UserItem.item_id == item_id, UserItem.counted)
        .order_by(UserItem.created_at.desc(), UserItem.id.desc())
        .limit(sql_literal(name="sample_lines"))
        .subquery("sample")
    )
    # A buyer's BUYER_LINES-th latest line (from the index alone) marks where
    # their recent lines start, so reading them is one short index range.
    line = so.aliased(UserItem, name="line")
    since = (
        sa.select(line.created_at)
        .where(line.user_id == sample.c.user_id)
        .order_by(line.created_at.desc(), line.id.desc())
        .offset(sql_literal(name="buyer_offset"))
        .limit(sql_literal(1))
        .scalar_subquery()
    )
    # GROUP BY, not a plain select: PostgreSQL cannot fold a grouped subquery
    # into the join, so the cut-off stays a column the index range can use.
    buyers = (
        sa.select(sample.c.user_id, sa.func.coalesce(since, DAWN).label("since"))
        .group_by(sample.c.user_id)
        .subquery("buyers")
    )
    other = so.aliased(UserItem, name="other")
    return (
        sa.select(
            other.item_id.label("item_id"),
            sa.func.count(sa.distinct(other.user_id)).label("buyers"),
            sa.func.max(other.created_at).label("last_bought"),
        )
        .join(
            buyers,
            sa.and_(
                other.user_id == buyers.c.user_id, other.created_at >= buyers.c.since
            ),
        )
        .where(other.item_id != item_id, other.counted)
        .group_by(other.item_id)
    )


def _recent_buyer_counts() -> sa.Select:
    """(item_id, buyers, last_bought) over the store's latest purchase lines."""
    latest = (
        sa.select(UserItem.item_id, UserItem.user_id, UserItem.created_at)
        .where(UserItem.counted)
        .order_by(UserItem.created_at.desc(), UserItem.id.desc())
        .limit(sql_literal(name="popular_lines"))
        .subquery("latest")
    )
    return sa.select(
        latest.c.item_id,
        sa.func.count(sa.distinct(latest.c.user_id)).label("buyers"),
        sa.func.max(latest.c.created_at).label("last_bought"),
    ).group_by(latest.c.item_id)


def _on_sale(
    counts: sa.Select, places: sa.ColumnElement[int] | None = None
) -> sa.Select:
    """The best candidates of (item_id, buyers, last_bought) that are live and
    in stock, with their card columns: (id, name, price_cents, stock, buyers,
    last_bought).

    Only the best CANDIDATES_PER_SLOT × limit candidates are looked up in
    items, so a best seller's thousand candidates cost a few dozen lookups;
    none when `places` (if given) is not above zero.
    """
    candidates = counts.subquery("candidates")
    how_many = sql_literal(name="candidates")
    best = (
        sa.select(candidates)
        .order_by(
            candidates.c.buyers.desc(),
            candidates.c.last_bought.desc(),
            candidates.c.item_id.desc(),
        )
        .limit(
            how_many
            if places is None
            else sa.case((places > sql_literal(0), how_many), else_=sql_literal(0))
        )
        .subquery("best")
    )
    return (
        sa.select(
            Item.id,
            Item.name,
            Item.price_cents,
            Item.stock,
            best.c.buyers,
            best.c.last_bought,
        )
        .join(Item, Item.id == best.c.item_id)
        .where(Item.archived_at.is_(None), Item.stock > sql_literal(0))
    )


def _best(ranked: sa.Subquery, *first: sa.ColumnElement) -> sa.Select:
    """The card columns of the first `limit` ranked items, with their first
    pictures (looked up for those few rows only)."""
    return (
        sa.select(
            ranked.c.id,
            ranked.c.name,
            ranked.c.price_cents,
            ranked.c.stock,
            *first_image_columns(ranked.c.id),
        )
        .order_by(
            *first,
            ranked.c.buyers.desc(),
            ranked.c.last_bought.desc(),
            ranked.c.id.desc(),
        )
        .limit(sql_literal(name="limit"))
    )
