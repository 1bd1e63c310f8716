"""The catalogue and item pages (/items/...), for everyone."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import abort, current_app, render_template, request
from flask_login import current_user

from app.caching import remembered
from app.database import sql_literal
from app.extensions import db
from app.forms import CartAddForm
from app.items import bp
from app.items.pages import render_item_page
from app.items.recommendations import popular_cached
from app.models import Item, StoreTotals
from app.page_cache import anonymous_cached
from app.pagination import page_arg, paginate_rows
from app.search import contains, search_text

SORTS = {
    "name": (Item.name.asc(), Item.id.asc()),
    "price": (Item.price_cents.asc(), Item.id.asc()),
    "-price": (Item.price_cents.desc(), Item.id.desc()),
    "newest": (Item.created_at.desc(), Item.id.desc()),
}
SORT_LABELS = {
    "name": "Name (A–Z)",
    "price": "Price (low to high)",
    "-price": "Price (high to low)",
    "newest": "Newest first",
}
# A search counts this many matches at most ("1,000+ items"): counting every
# match of a common word would cost as much as the catalogue is large.
SEARCH_COUNT_CAP = 1_000


def name_contains(q: str) -> sa.ColumnElement[bool]:
    """Live items whose name contains `q` in any case, through the search index.

    SQLite answers from its FTS5 trigram table of live item names; the unary
    `+` keeps the planner walking the catalogue's sort index and checking each
    id against the matches, so a page stops after 24 rows. PostgreSQL's
    pg_trgm index serves ILIKE directly. Queries under three characters have
    no trigram and fall back to a plain LIKE.
    """
    if _in_fts(q):
        return sa.literal_column("+items.id").in_(_fts_matches(q))
    return contains(Item.name, q)


def _in_fts(q: str) -> bool:
    """Whether SQLite's trigram table can answer `q` (three characters at least)."""
    return len(q) >= 3 and db.engine.dialect.name == "sqlite"


def _fts_matches(q: str) -> sa.Select:
    phrase = '"' + q.replace('"', '""') + '"'
    return (
        sa.select(sa.literal_column("rowid"))
        .select_from(sa.table("items_search"))
        .where(sa.text("items_search MATCH :phrase").bindparams(phrase=phrase))
    )


def _live_total(q: str) -> int:
    """The catalogue's total. Unsearched, the database's running count of live
    items: one row, whatever the catalogue's size. Searched, the matches up to
    one past SEARCH_COUNT_CAP (on SQLite in the search index alone),
    remembered for SEARCH_COUNT_CACHE_SECONDS: a common word's count costs
    more than its page, and it is the common words that are searched again."""
    if not q:
        return db.session.scalar(sa.select(StoreTotals.live_items)) or 0

    def count() -> int:  # built only when the cache has no count
        if _in_fts(q):
            matches = _fts_matches(q)
        else:
            matches = sa.select(Item.id).where(
                Item.archived_at.is_(None), name_contains(q)
            )
        capped = matches.limit(sql_literal(SEARCH_COUNT_CAP + 1)).subquery()
        return db.session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0

    return remembered(
        # Hashed: any text is a valid key then, on any cache backend.
        "search-count:" + hashlib.blake2b(q.encode(), digest_size=16).hexdigest(),
        current_app.config["SEARCH_COUNT_CACHE_SECONDS"],
        count,
    )


@bp.get("/")
@anonymous_cached
def index():
    """The catalogue: 24 items a page, searchable and sortable."""
    q = search_text()
    sort = request.args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    page = page_arg()

    # Plain columns, not entities: the cards need four values each.
    select = sa.select(Item.id, Item.name, Item.price_cents, Item.stock).where(
        Item.archived_at.is_(None)
    )
    if q:
        select = select.where(name_contains(q))
    items = paginate_rows(
        select,
        page,
        current_app.config["ITEMS_PER_PAGE"],
        total=_live_total(q),
        order_by=SORTS[sort],
        key=Item.id,
        count_cap=SEARCH_COUNT_CAP if q else None,
    )
    # "Popular" belongs to the catalogue's landing view only: a search, another
    # page or another order is the shopper browsing the list they asked for.
    popular_items = popular_cached() if page == 1 and not q and sort == "name" else []
    return render_template(
        "items/index.html",
        items=items,
        q=q,
        sort=sort,
        sort_labels=SORT_LABELS,
        popular_items=popular_items,
    )


@bp.get("/<int:item_id>")
@anonymous_cached
def detail(item_id: int):
    """One item: price, stock, description and the add-to-cart form."""
    item = db.get_or_404(Item, item_id)
    is_admin = current_user.is_authenticated and current_user.is_admin
    if item.is_archived and not is_admin:
        abort(404)
    form = CartAddForm(item_id=item.id, quantity=1)
    return render_item_page(item, form)
