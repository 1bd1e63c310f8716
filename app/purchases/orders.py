"""Orders: a shopper's order page and cancel button, the admin's order list,
status moves, refunds and CSV export (/purchases/orders/...).

Every change goes through app/orders/lifecycle.py: one conditional statement
on the order's current status, its side effects in the same transaction.
Someone else's order is a 404; order numbers, never ids, are in the URLs.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.auth import admin_required
from app.caching import forget, remembered
from app.csv_files import csv_lines, csv_response
from app.extensions import db
from app.models import Item, Order, OrderEvent, User, UserItem
from app.money import cents_to_decimal_text
from app.orders import payments
from app.orders.methods import BANK_TRANSFER, CARD
from app.orders.numbers import normalize
from app.orders.pricing import shop_settings
from app.orders.statuses import (
    ACTIONS,
    CANCELLED,
    LABELS,
    MOVES,
    REFUNDABLE,
    SHOPPER_CANCELLABLE,
    STATUSES,
)
from app.pagination import page_arg
from app.purchases import bp
from app.purchases.forms import RefundForm, StatusForm
from app.search import contains, search_text

ORDER_CSV_HEADER = (
    "number", "created_at", "status", "email", "name", "items", "subtotal",
    "shipping", "tax", "total", "refunded", "payment_method", "shipping_method",
    "tracking_number", "ship_name", "ship_line1", "ship_line2", "ship_city",
    "ship_postcode", "ship_country",
)  # fmt: skip


def _order_or_404(number: str) -> Order:
    """The order with its lines and timeline, for its owner or an admin only."""
    normalized = normalize(number)
    order = (
        db.session.scalar(
            sa.select(Order)
            .where(Order.number == normalized)
            .options(
                so.selectinload(Order.lines)
                .joinedload(UserItem.item)
                .selectinload(Item.images),
                so.selectinload(Order.events).joinedload(OrderEvent.actor),
            )
        )
        if normalized
        else None
    )
    if order is None or not (current_user.is_admin or order.user_id == current_user.id):
        abort(404)
    return order


@bp.get("/orders/<number>")
@login_required
def order(number: str):
    """An order: its lines at the price paid, money, address, tracking and
    timeline; bank-transfer details while it waits; admins also see the moves."""
    placed = _order_or_404(number)
    admin = current_user.is_admin
    return render_template(
        "purchases/order.html",
        order=placed,
        labels=LABELS,
        can_cancel=placed.user_id == current_user.id
        and placed.status in SHOPPER_CANCELLABLE,
        bank_details=shop_settings().bank_transfer_details
        if placed.status == "pending_payment" and placed.payment_method == BANK_TRANSFER
        else None,
        moves=[(status, ACTIONS[status]) for status in MOVES[placed.status]]
        if admin
        else [],
        refund_form=RefundForm(seen_refunded=str(placed.refunded_cents))
        if admin and placed.status in REFUNDABLE
        else None,
        pay_by_card=placed.user_id == current_user.id
        and placed.status == "pending_payment"
        and payments.has_step(placed.payment_method),
        payment=payments.payment_of(placed.id)
        if admin and placed.payment_method == CARD
        else None,
        payment_events=payments.events_of(placed.id)
        if admin and placed.payment_method == CARD
        else [],
    )


@bp.post("/orders/<number>/cancel")
@login_required
def cancel(number: str):
    """The shopper cancels their own order while it is unpaid or paid (not yet
    shipped): stock comes back once, a paid order is refunded in full."""
    placed = _order_or_404(number)
    if placed.user_id != current_user.id:
        abort(404)  # admins move other people's orders through /status
    if placed.status not in SHOPPER_CANCELLABLE:
        flash(
            f"Order {placed.number} is {LABELS[placed.status].lower()} and can no "
            "longer be cancelled. Contact us if something is wrong.",
            "error",
        )
        return redirect(url_for("purchases.order", number=placed.number))
    outcome = payments.move(
        placed,
        placed.status,
        CANCELLED,
        actor_id=current_user.id,
        note="Cancelled by the shopper.",
    )
    flash(outcome.message, outcome.category)
    return redirect(url_for("purchases.order", number=placed.number))


@bp.get("/orders/")
@admin_required
def orders_index():
    """Every order, newest first, 50 a page: tabs by status with their counts,
    and a search by number (exactly, any case), email or name."""
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        abort(400)
    q = search_text()
    search = _order_search(q)

    def count() -> dict[str, int]:
        return dict(
            db.session.execute(
                sa.select(Order.status, sa.func.count())
                .where(search)
                .group_by(Order.status)
            ).all()
        )

    # The unsearched tabs are the same for every admin: remembered a few
    # seconds (a search counts its own, fewer, rows).
    seconds = current_app.config["ORDER_COUNTS_CACHE_SECONDS"]
    counts = remembered(ORDER_COUNTS_KEY, seconds, count) if not q else count()
    select = (
        sa.select(Order)
        .where(search)
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    if status:
        select = select.where(Order.status == status)
    orders = db.paginate(
        select.options(so.joinedload(Order.user)),
        page=page_arg(),
        per_page=current_app.config["ORDERS_PER_PAGE"],
        max_per_page=None,
        count=False,
    )
    orders.total = counts.get(status, 0) if status else sum(counts.values())
    return render_template(
        "purchases/orders_index.html",
        orders=orders,
        counts=counts,
        status=status,
        q=q,
        labels=LABELS,
    )


ORDER_COUNTS_KEY = "order-counts"


def forget_order_counts() -> None:
    """The admin who moves an order sees the tabs' new counts at once."""
    forget(ORDER_COUNTS_KEY)


def _order_search(q: str) -> sa.ColumnElement[bool]:
    """No raw ids to type: the number exactly, or a substring of the email,
    the account's name or the name the order ships to."""
    if not q:
        return sa.true()
    conditions = [
        contains(Order.email, q),
        contains(Order.ship_name, q),
        Order.user_id.in_(sa.select(User.id).where(contains(User.name, q))),
    ]
    if number := normalize(q):
        conditions.insert(0, Order.number == number)
    return sa.or_(*conditions)


@bp.post("/orders/<number>/status")
@admin_required
def change_status(number: str):
    """Move an order to its next status (the contract's table decides which)."""
    placed = _order_or_404(number)
    form = StatusForm()
    back = redirect(url_for("purchases.order", number=placed.number))
    if not form.validate():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return back
    seen = form.from_status.data
    outcome = payments.move(
        placed,
        seen if seen in STATUSES else placed.status,
        form.status.data,
        actor_id=current_user.id,
        note=form.note.data or "",
        tracking_number=form.tracking_number.data or None,
    )
    forget_order_counts()
    flash(outcome.message, outcome.category)
    return back


@bp.post("/orders/<number>/refund")
@admin_required
def refund(number: str):
    """Refund part or all of a paid order; refunds add up to at most its total."""
    placed = _order_or_404(number)
    form = RefundForm()
    if not form.validate():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
    else:
        outcome = payments.refund(
            placed,
            form.amount.data,
            seen_refunded_cents=form.seen_refunded_cents(),
            actor_id=current_user.id,
            note=form.note.data or "",
        )
        forget_order_counts()
        flash(outcome.message, outcome.category)
    return redirect(url_for("purchases.order", number=placed.number))


@bp.get("/orders/export.csv")
@admin_required
def orders_export():
    """The orders of the list's filters as CSV, newest first, streamed."""
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        abort(400)
    select = (
        sa.select(Order)
        .where(_order_search(search_text()))
        .options(so.selectinload(Order.lines), so.joinedload(Order.user))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .execution_options(yield_per=500)
    )
    if status:
        select = select.where(Order.status == status)

    def rows():
        for placed in db.session.scalars(select):
            yield (
                placed.number,
                placed.created_at.isoformat(sep=" ", timespec="seconds") + " UTC",
                placed.status,
                placed.email,
                placed.user.name if placed.user else "",
                "; ".join(f"{line.quantity} × {line.item_name}" for line in placed.lines),
                *(cents_to_decimal_text(c) for c in (
                    placed.subtotal_cents, placed.shipping_cents, placed.tax_cents,
                    placed.total_cents, placed.refunded_cents)),
                placed.payment_method,
                placed.shipping_method,
                placed.tracking_number or "",
                placed.ship_name,
                placed.ship_line1,
                placed.ship_line2,
                placed.ship_city,
                placed.ship_postcode,
                placed.ship_country,
            )  # fmt: skip

    return csv_response(csv_lines(ORDER_CSV_HEADER, rows()), "orders")
