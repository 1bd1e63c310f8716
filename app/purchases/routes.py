"""The cart and the shopper's order history (/purchases/cart, /purchases/)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import csrf, db
from app.forms import CartAddForm
from app.items.pages import render_item_page
from app.limits import MAX_CART_LINES, MAX_QUANTITY
from app.models import Item, Order, UserItem
from app.orders.statuses import LABELS
from app.pagination import page_arg, paginate_rows
from app.purchases import bp, cart
from app.purchases.forms import CartUpdateForm

HISTORY_PER_PAGE = 20
HISTORY_LINES_SHOWN = 3  # an order's lines named on the history page


@bp.get("/cart", endpoint="cart")
def cart_page():
    """The cart with line totals, quantity boxes and the way to checkout."""
    lines = cart.lines()
    return render_template(
        "purchases/cart.html",
        lines=lines,
        total_cents=sum(line.total_cents for line in lines),
        update_form=CartUpdateForm(),
    )


@bp.post("/cart")
@csrf.visitor_form
def cart_add():
    """Add `quantity` of `item_id`; the cart never holds more than the stock."""
    form = CartAddForm()
    item_id = form.item_id.data if form.item_id.validate(form) else None
    item = db.session.get(Item, item_id) if item_id else None
    if item is None or item.is_archived:
        abort(404)
    if not form.validate():
        return render_item_page(item, form, 422)
    quantities = cart.quantities()
    in_cart = quantities.get(item.id, 0)
    wanted = in_cart + form.quantity.data
    if wanted > MAX_QUANTITY:
        form.quantity.errors.append(
            f"A cart line holds at most {MAX_QUANTITY:,} of an item, and "
            f"{in_cart:,} are in your cart already."
        )
        return render_item_page(item, form, 422)
    if wanted > item.stock:
        form.quantity.errors.append(_stock_message(item, in_cart))
        return render_item_page(item, form, 422)
    if item.id not in quantities and len(quantities) >= MAX_CART_LINES:
        form.quantity.errors.append(
            f"A cart holds at most {MAX_CART_LINES} different items."
        )
        return render_item_page(item, form, 422)
    quantities[item.id] = wanted
    cart.save(quantities)
    flash(f"Added {form.quantity.data} × {item.name} to your cart.", "success")
    return redirect(url_for("purchases.cart"))


@bp.post("/cart/<int:item_id>/update")
def cart_update(item_id: int):
    """Set a cart line's quantity."""
    quantities = cart.quantities()
    if item_id not in quantities:
        abort(404)
    item = db.session.get(Item, item_id)
    form = CartUpdateForm()
    if item is None or item.is_archived:
        abort(404)
    if not form.validate():
        flash(f"{item.name}: {' '.join(form.quantity.errors)}", "error")
    elif form.quantity.data > item.stock:
        flash(f"{item.name}: {_stock_message(item, 0)}", "error")
    else:
        quantities[item_id] = form.quantity.data
        cart.save(quantities)
        flash(f"Updated {item.name} to {form.quantity.data}.", "success")
    return redirect(url_for("purchases.cart"))


@bp.post("/cart/<int:item_id>/remove")
def cart_remove(item_id: int):
    """Drop a line from the cart."""
    quantities = cart.quantities()
    if quantities.pop(item_id, None) is None:
        flash("That item was not in your cart.", "info")
    else:
        cart.save(quantities)
        flash("Removed the item from your cart.", "success")
    return redirect(url_for("purchases.cart"))


def _stock_message(item: Item, in_cart: int) -> str:
    if item.stock == 0:
        return "Sorry, this item is out of stock."
    if in_cart:
        return f"Only {item.stock} in stock, and {in_cart} already in your cart."
    return f"Only {item.stock} in stock."


@bp.get("/")
@login_required
def index():
    """The signed-in shopper's orders, newest first, with their status. Admins
    are sent to everyone's purchases (purchases.admin_index, same filters).
    Plain columns, not ORM objects: the page shows five columns of each
    order and three of its lines, and building whole orders, lines and items
    for that cost more than the queries did."""
    if current_user.is_admin:
        return redirect(url_for("purchases.admin_index", **request.args))
    mine = Order.user_id == current_user.id
    orders = paginate_rows(
        sa.select(
            Order.id, Order.number, Order.created_at, Order.status, Order.total_cents
        ).where(mine),
        page_arg(),
        HISTORY_PER_PAGE,
        sa.select(sa.func.count()).select_from(Order).where(mine),
        order_by=(Order.created_at.desc(), Order.id.desc()),
    )
    previews = _line_previews([order.id for order in orders.items])
    return render_template(
        "purchases/history.html", orders=orders, previews=previews, labels=LABELS
    )


def _line_previews(order_ids: list[int]) -> dict[int, LinePreview]:
    """Each order's first HISTORY_LINES_SHOWN lines (as written) and how many
    it has, in one statement for the whole page."""
    if not order_ids:
        return {}
    # The lines numbered from user_items alone; only the shown ones then
    # look up whether their item is archived.
    numbered = (
        sa.select(
            UserItem.order_id,
            UserItem.item_id,
            UserItem.item_name,
            UserItem.quantity,
            sa.func.row_number()
            .over(partition_by=UserItem.order_id, order_by=UserItem.id)
            .label("place"),
            sa.func.count().over(partition_by=UserItem.order_id).label("lines"),
        )
        .where(UserItem.order_id.in_(order_ids))
        .subquery()
    )
    shown: dict[int, list[sa.Row]] = {order_id: [] for order_id in order_ids}
    for row in db.session.execute(
        sa.select(numbered, Item.archived_at.is_not(None).label("archived"))
        .join(Item, Item.id == numbered.c.item_id)
        .where(numbered.c.place <= HISTORY_LINES_SHOWN)
        .order_by(numbered.c.order_id, numbered.c.place)
    ):
        shown[row.order_id].append(row)
    # Each row carries its order's number of lines.
    return {
        order_id: LinePreview(rows, rows[0].lines if rows else 0)
        for order_id, rows in shown.items()
    }


@dataclass(frozen=True)
class LinePreview:
    """An order's first lines (order_id, item_id, item_name, quantity,
    archived) and how many lines it has."""

    shown: list[sa.Row]
    lines: int

    @property
    def more(self) -> int:
        return self.lines - len(self.shown)
