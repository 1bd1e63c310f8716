"""Cart, checkout, orders and purchase history (/purchases/...)."""

from __future__ import annotations

from math import ceil

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.auth import may_see_user
from app.database import begin_write
from app.extensions import db
from app.forms import CartAddForm
from app.items.pages import render_item_page
from app.limits import MAX_CART_LINES
from app.models import Item, Order, UserItem
from app.pagination import page_arg
from app.purchases import bp, cart
from app.purchases.forms import CartUpdateForm, CheckoutForm

HISTORY_PER_PAGE = 20


@bp.get("/cart", endpoint="cart")
def cart_page():
    """The cart with line totals, quantity boxes and the checkout button."""
    lines = cart.lines()
    return render_template(
        "purchases/cart.html",
        lines=lines,
        total_cents=sum(line.total_cents for line in lines),
        update_form=CartUpdateForm(),
        checkout_form=CheckoutForm(token=cart.checkout_token()),
    )


@bp.post("/cart")
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
    wanted = quantities.get(item.id, 0) + form.quantity.data
    if wanted > item.stock:
        form.quantity.errors.append(_stock_message(item, quantities.get(item.id, 0)))
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


@bp.post("/checkout")
def checkout():
    """Buy the whole cart in one transaction, or nothing."""
    if not current_user.is_authenticated:
        flash("Please sign in to check out. Your cart is kept.", "info")
        return redirect(url_for("users.login", next=url_for("purchases.cart")))
    form = CheckoutForm()
    # CSRF is checked for every POST; a malformed token is treated as a stale one.
    token = form.token.data if form.validate() else ""
    if token and (placed := _order_for_token(token)):
        flash("This order was already placed.", "info")
        return redirect(url_for("purchases.order", order_id=placed))
    if token != cart.checkout_token():
        flash(
            "Your cart changed since you opened it. Please check it and try again.",
            "warning",
        )
        return redirect(url_for("purchases.cart"))
    wanted = cart.quantities()
    if not wanted:
        flash("Your cart is empty.", "info")
        return redirect(url_for("purchases.cart"))

    user_id = current_user.id
    try:
        order_id, short, gone = _buy(user_id, token, wanted)
    except sa.exc.IntegrityError:
        db.session.rollback()
        if placed := _order_for_token(token):
            cart.clear()
            flash("This order was already placed.", "info")
            return redirect(url_for("purchases.order", order_id=placed))
        raise
    except sa.exc.OperationalError:
        db.session.rollback()
        flash(
            "The store is very busy right now; nothing was bought. Please try again.",
            "error",
        )
        return redirect(url_for("purchases.cart"))
    if short or gone:
        problems = []
        if gone:
            verb = "is" if len(gone) == 1 else "are"
            problems.append(f"{', '.join(gone)} {verb} no longer sold.")
        if short:
            problems.append(f"Not enough stock for: {', '.join(short)}.")
        flash(f"{' '.join(problems)} Nothing was bought.", "error")
        return redirect(url_for("purchases.cart"))
    cart.clear()
    flash("Thank you! Your order is placed.", "success")
    return redirect(url_for("purchases.order", order_id=order_id))


def _buy(
    user_id: int, token: str, wanted: dict[int, int]
) -> tuple[int | None, list[str], list[str]]:
    """Take stock for every line and record the purchase; roll back if any is short.

    Returns the order id, or None with the names of the items short of stock
    and of those no longer sold (archived since they went in the cart).

    Stock is taken by one conditional UPDATE for the whole cart (stock never
    goes below zero, however many buyers race): each line's row changes only
    if it has the units, and the lines it could not change are the short ones.
    The price paid is read by that same statement, so it is the price at the
    moment the stock was taken. On PostgreSQL the cart's rows are locked first,
    in item-id order, so concurrent checkouts cannot deadlock; SQLite's
    BEGIN IMMEDIATE lets one writer in at a time.
    """
    begin_write()
    ids = sorted(wanted)
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            sa.select(Item.id)
            .where(Item.id.in_(ids))
            .order_by(Item.id)
            .with_for_update()
        )
    quantity = sa.case(wanted, value=Item.id)
    taken = dict(
        db.session.execute(
            sa.update(Item)
            .where(Item.id.in_(ids), Item.archived_at.is_(None), Item.stock >= quantity)
            .values(stock=Item.stock - quantity, updated_at=sa.func.now())
            .returning(Item.id, Item.price_cents)
            .execution_options(synchronize_session=False)
        ).all()
    )
    short = [item_id for item_id in ids if item_id not in taken]
    bought = [
        (item_id, wanted[item_id], taken[item_id])
        for item_id in ids
        if item_id in taken
    ]
    if short:
        db.session.rollback()
        rows = db.session.execute(
            sa.select(Item.name, Item.archived_at)
            .where(Item.id.in_(short))
            .order_by(Item.name)
        ).all()
        low = [name for name, archived_at in rows if archived_at is None]
        gone = [name for name, archived_at in rows if archived_at is not None]
        if len(rows) < len(short):
            gone.append("An item in your cart")
        return None, low, gone
    order = Order(
        user_id=user_id, token=token, total_cents=sum(q * p for _, q, p in bought)
    )
    db.session.add(order)
    db.session.flush()
    order_id = order.id
    # One INSERT statement for all the lines, run as an executemany (the ORM
    # would send one per line on SQLite, to read each new id back; nothing
    # here needs them).
    db.session.execute(
        sa.insert(UserItem),
        [
            {"user_id": user_id, "item_id": i, "quantity": q,
             "unit_price_cents": p, "order_id": order_id}
            for i, q, p in bought
        ],
    )  # fmt: skip
    db.session.commit()
    return order_id, [], []


def _order_for_token(token: str) -> int | None:
    return db.session.scalar(
        sa.select(Order.id).where(
            Order.token == token, Order.user_id == current_user.id
        )
    )


@bp.get("/orders/<int:order_id>")
@login_required
def order(order_id: int):
    """An order's confirmation: what was bought, at what price."""
    placed = db.session.scalar(
        sa.select(Order)
        .where(Order.id == order_id)
        .options(so.selectinload(Order.lines).joinedload(UserItem.item))
    )
    if placed is None or not may_see_user(placed.user_id):
        abort(404)
    return render_template("purchases/order.html", order=placed)


@bp.get("/")
@login_required
def index():
    """The signed-in user's purchase lines, newest first. Admins are sent to
    everyone's (purchases.admin_index, with the same filters)."""
    if current_user.is_admin:
        return redirect(url_for("purchases.admin_index", **request.args))
    # The total is the user's running count of lines (kept by the database,
    # migration 0006), so a long history is not counted on every page.
    total = current_user.purchase_lines
    page = page_arg()
    if page > max(1, ceil(total / HISTORY_PER_PAGE)):
        abort(404)
    lines = db.paginate(
        sa.select(UserItem)
        .where(UserItem.user_id == current_user.id)
        .options(so.joinedload(UserItem.item))
        .order_by(UserItem.created_at.desc(), UserItem.id.desc()),
        page=page,
        per_page=HISTORY_PER_PAGE,
        max_per_page=None,
        count=False,
    )
    lines.total = total
    return render_template("purchases/history.html", lines=lines)
