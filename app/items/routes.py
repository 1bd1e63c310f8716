"""The catalogue and item pages (/items/...), for everyone."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, render_template, request
from flask_login import current_user

from app.extensions import db
from app.items import bp
from app.models import Item
from app.pagination import page_arg
from app.purchases.forms import CartAddForm

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
MAX_QUERY_LENGTH = 100


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@bp.get("/")
def index():
    """The catalogue: 24 items a page, searchable and sortable."""
    # Control characters match no name, and PostgreSQL refuses NUL in text.
    q = "".join(ch for ch in request.args.get("q", "") if ch >= " " and ch != "\x7f")
    q = q.strip()[:MAX_QUERY_LENGTH]
    sort = request.args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    page = page_arg()

    select = sa.select(Item).where(Item.archived_at.is_(None))
    if q:
        select = select.where(Item.name.ilike(like_pattern(q), escape="\\"))
    select = select.order_by(*SORTS[sort])
    items = db.paginate(
        select,
        page=page,
        per_page=current_app.config["ITEMS_PER_PAGE"],
        max_per_page=None,
    )
    return render_template(
        "items/index.html", items=items, q=q, sort=sort, sort_labels=SORT_LABELS
    )


# Ids are 32-bit on PostgreSQL (SQLite overflows at 64): larger numbers name no
# row, so the URL does not match (404) instead of failing in the driver (500).
@bp.get("/<int(max=2147483647):item_id>")
def detail(item_id: int):
    """One item: price, stock, description and the add-to-cart form."""
    item = db.get_or_404(Item, item_id)
    is_admin = current_user.is_authenticated and current_user.is_admin
    if item.is_archived and not is_admin:
        abort(404)
    form = CartAddForm(item_id=item.id, quantity=1)
    return render_item_page(item, form)


def render_item_page(item: Item, form: CartAddForm, status: int = 200):
    """The item page, also re-rendered by the cart when an add fails validation."""
    buyers = None
    if current_user.is_authenticated and current_user.is_admin:
        from app.items.admin import buyers_page

        buyers = buyers_page(item.id, page_arg("buyers_page"))
    return render_template(
        "items/detail.html", item=item, form=form, buyers=buyers
    ), status
