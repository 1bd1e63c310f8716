"""The item page, drawn by the item's own URL and again by the cart when an
add fails (the form then shows its errors): one renderer for both, so the
purchases blueprint never reaches into the items views."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import sqlalchemy as sa
from flask import render_template
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination

from app.forms import CartAddForm
from app.items.forms import ReviewForm
from app.items.ratings import reviews_page, viewer_of
from app.items.recommendations import also_bought_cached
from app.items.tree import ancestors
from app.media.routes import media_src
from app.models import Item, User, UserItem
from app.pagination import page_arg, paginate_rows
from app.seo import item_description, json_for_script, product_data
from app.templating import site_url
from app.wishlist import wished_ids

BUYERS_PER_PAGE = 20


def render_item_page(item: Item, form: CartAddForm, status: int = 200):
    """The item page, also re-rendered by the cart when an add fails validation."""
    buyers = None
    is_admin = current_user.is_authenticated and current_user.is_admin
    if is_admin:
        buyers = buyers_page(item, page_arg("buyers_page"))
    also_bought = also_bought_cached(item.id)
    # No reviews to show: no query for them (admins may have hidden ones).
    reviews = None
    if item.rating_count or is_admin:
        reviews = reviews_page(item, page_arg("reviews_page"), with_hidden=is_admin)
    # Each picture's largest JPEG copy, as an absolute URL (Product data, og:image).
    pictures = [
        site_url(media_src(image.key, image.widths, image.width))
        for image in item.images
    ]
    return render_template(
        "items/detail.html",
        item=item,
        form=form,
        buyers=buyers,
        also_bought=also_bought,
        reviews=reviews,
        viewer=viewer_of(item.id),
        review_form=ReviewForm(formdata=None),
        wished=wished_ids([item.id, *(row.id for row in also_bought)]),
        trail=ancestors(category_id=item.category_id) if item.category_id else [],
        description=item_description(item),
        product=json_for_script(
            product_data(item, site_url(f"/items/{item.id}"), pictures)
        ),
        og_image=pictures[0] if pictures else None,
    ), status


@dataclass(frozen=True)
class Buyers:
    """What the admin's part of an item page shows (templates/items/_buyers.html).

    `pagination.items` are rows of one purchase line each, newest first:
    created_at, quantity, unit_price_cents, total_cents, user_id, user_name,
    user_email.
    """

    pagination: Pagination
    lines: int
    units: int
    revenue_cents: int
    customers: int


def buyers_page(item: Item, page: int) -> Buyers:
    """The item's purchase lines with their buyers, 20 a page, and its sales summary.

    One query whatever the number of buyers: the summary is the item's running
    totals (kept by the database, migration 0006), which also give the
    pagination's total; the page walks the (item_id, created_at, id) index
    with its buyers' names joined in. A page past the end shows the last page rather
    than hiding the item page.
    """
    last_page = max(1, ceil(item.sales_lines / BUYERS_PER_PAGE))
    # Plain columns, not entities: seven values a line, no objects to build.
    pagination = paginate_rows(
        sa.select(
            UserItem.created_at,
            UserItem.quantity,
            UserItem.unit_price_cents,
            UserItem.total_cents.label("total_cents"),
            User.id.label("user_id"),
            User.name.label("user_name"),
            User.email.label("user_email"),
        )
        .join(UserItem.user)
        .where(UserItem.item_id == item.id, UserItem.counted),
        min(max(page, 1), last_page),
        BUYERS_PER_PAGE,
        total=item.sales_lines,
        order_by=(UserItem.created_at.desc(), UserItem.id.desc()),
        error_out=False,
    )
    return Buyers(
        pagination=pagination,
        lines=item.sales_lines,
        units=item.units_sold,
        revenue_cents=item.revenue_cents,
        customers=item.customers,
    )
