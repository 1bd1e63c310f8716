"""The catalogue and item pages (/items/...), for everyone."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import abort, current_app, render_template, request
from flask_login import current_user

from app.caching import remembered
from app.database import materialized, sql_literal
from app.extensions import db
from app.forms import CartAddForm
from app.items import bp
from app.items.catalogue import (
    Filters,
    branch_counts,
    close_names,
    matches_first,
    text_matches,
)
from app.items.pages import render_item_page
from app.items.recommendations import popular_cached
from app.models import Item, StoreTotals, first_image_columns
from app.page_cache import anonymous_cached
from app.pagination import page_arg, paginate_rows
from app.wishlist import wished_ids

SORTS = {
    "name": (Item.name.asc(), Item.id.asc()),
    "price": (Item.price_cents.asc(), Item.id.asc()),
    "-price": (Item.price_cents.desc(), Item.id.desc()),
    "newest": (Item.created_at.desc(), Item.id.desc()),
    # The best average first (items without reviews last), then the most
    # reviewed: the average compared as the exact quotient of the totals.
    "rating": (
        (sa.cast(Item.rating_sum, sa.Float) / sa.func.nullif(Item.rating_count, 0))
        .desc()
        .nulls_last(),
        Item.rating_count.desc(),
        Item.id.desc(),
    ),
}
SORT_LABELS = {
    "name": "Name (A–Z)",
    "price": "Price (low to high)",
    "-price": "Price (high to low)",
    "newest": "Newest first",
    "rating": "Best rated",
}
# A search counts this many matches at most ("1,000+ items"): counting every
# match of a common word would cost as much as the catalogue is large.
SEARCH_COUNT_CAP = 1_000


def _live_total(q: str) -> int:
    """The catalogue's total. Unsearched, the database's running count of live
    items: one row, whatever the catalogue's size. Searched, the matches up to
    one past SEARCH_COUNT_CAP, remembered for SEARCH_COUNT_CACHE_SECONDS: a
    common word's count costs more than its page, and it is the common words
    that are searched again."""
    if not q:
        return db.session.scalar(sa.select(StoreTotals.live_items)) or 0

    def count() -> int:  # built only when the cache has no count
        matches = sa.select(Item.id).where(Item.archived_at.is_(None), text_matches(q))
        if matches_first(q):  # from the indexes, as the page's keys are
            matches = sa.select(materialized(matches, "matches"))
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
    """The catalogue: 24 items a page, searchable, sortable and filtered by
    category (its whole subtree), price and stock, with the counts of the
    child categories under the same filters."""
    filters = Filters.from_request()
    q = filters.q
    sort = request.args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    page = page_arg()

    branches, matching = branch_counts(filters)
    # Plain columns, not entities: the cards need these values each.
    select = sa.select(
        Item.id,
        Item.name,
        Item.price_cents,
        Item.stock,
        Item.rating_count,
        Item.rating_sum,
        *first_image_columns(),
    ).where(*filters.conditions())
    if filters.narrowed:
        total, cap = matching, None
    else:
        total, cap = _live_total(q), (SEARCH_COUNT_CAP if q else None)
    items = paginate_rows(
        select,
        page,
        current_app.config["ITEMS_PER_PAGE"],
        total=total,
        order_by=SORTS[sort],
        key=Item.id,
        count_cap=cap,
        materialized=matches_first(q),
    )
    # "Popular" belongs to the catalogue's landing view only: a search, another
    # page or another order is the shopper browsing the list they asked for.
    landing = page == 1 and not q and sort == "name" and not filters.narrowed
    popular_items = popular_cached() if landing else []
    close = []
    suggested: list = []
    if q and not items.items and page == 1:
        close = close_names(q)
        if not close:
            suggested = branch_counts(Filters())[0]
    return render_template(
        "items/index.html",
        items=items,
        q=q,
        sort=sort,
        sort_labels=SORT_LABELS,
        popular_items=popular_items,
        wished=wished_ids([row.id for row in (*items.items, *popular_items)]),
        filters=filters,
        branches=branches,
        close=close,
        suggested=[b for b in suggested if b.count][:8],
    )


@bp.get("/<int:item_id>")
@anonymous_cached
def detail(item_id: int):
    """One item: price, stock, description and the add-to-cart form."""
    item = db.get_or_404(Item, item_id, options=[so.selectinload(Item.images)])
    is_admin = current_user.is_authenticated and current_user.is_admin
    if item.is_archived and not is_admin:
        abort(404)
    form = CartAddForm(item_id=item.id, quantity=1)
    return render_item_page(item, form)
