"""Every email the store sends, drawn from templates/mail/ and queued in the
outbox in the caller's transaction (none of these commit).

Each has a plain-text part and an HTML part in the store's colours; every
link is absolute, on the store's configured address (app/mail/links.py).
The dedupe key names the event, so each event queues its email once.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app, render_template

from app.extensions import db
from app.mail import kinds
from app.mail.links import absolute_url, store_url
from app.mail.outbox import queue
from app.models import Item, Order, User
from app.money import money
from app.orders.methods import BANK_TRANSFER, NAMES
from app.orders.pricing import shop_settings
from app.orders.statuses import CANCELLED, LABELS, PAID, REFUNDED, SHIPPED
from app.wishlist import unsubscribe_token

SUBJECTS = {
    kinds.ORDER_PLACED: "Your order {number} is placed",
    kinds.ORDER_PAID: "We received your payment for order {number}",
    kinds.ORDER_SHIPPED: "Your order {number} is on its way",
    kinds.ORDER_CANCELLED: "Your order {number} is cancelled",
    kinds.ORDER_REFUNDED: "We refunded {amount} of your order {number}",
    kinds.PASSWORD_RESET: "Reset your Corner Store password",
    kinds.PASSWORD_CHANGED: "Your Corner Store password was changed",
    kinds.EMAIL_CHANGE: "Confirm your new email for Corner Store",
    kinds.EMAIL_CHANGED: "Your Corner Store email was changed",
    kinds.ACCOUNT_EXISTS: "You already have a Corner Store account",
    kinds.BACK_IN_STOCK: "{item_name} is back in stock",
}
# The moves that tell the shopper, and the email each sends.
MOVE_EMAILS = {
    PAID: kinds.ORDER_PAID,
    SHIPPED: kinds.ORDER_SHIPPED,
    CANCELLED: kinds.ORDER_CANCELLED,
    REFUNDED: kinds.ORDER_REFUNDED,
}


def _send(
    kind: str,
    recipient: str,
    dedupe_key: str,
    list_unsubscribe: str | None = None,
    **context,
) -> bool:
    context = {"store_url": store_url(), "kind": kind, **context}
    subject = SUBJECTS[kind].format(**context)
    context["subject"] = subject
    text = render_template(f"mail/{kind}.txt", **context)
    html = render_template(f"mail/{kind}.html", **context)
    return queue(
        kind,
        recipient,
        subject,
        text,
        html,
        dedupe_key=dedupe_key,
        list_unsubscribe=list_unsubscribe,
    )


# --- orders -----------------------------------------------------------------------


def _order(order_id: int) -> Order:
    """The order as this transaction sees it (after its conditional UPDATE)."""
    return db.session.scalars(
        sa.select(Order)
        .where(Order.id == order_id)
        .options(so.selectinload(Order.lines))
        .execution_options(populate_existing=True)
    ).one()


def _order_context(order: Order) -> dict:
    return {
        "order": order,
        "number": order.number,
        "lines": order.lines,
        "labels": LABELS,
        "order_url": absolute_url("purchases.order", number=order.number),
        "payment_name": NAMES.get(order.payment_method, order.payment_method),
    }


def order_placed(order_id: int) -> None:
    """The receipt, with the transfer details and the date to pay by."""
    order = _order(order_id)
    context = _order_context(order)
    if order.payment_method == BANK_TRANSFER:
        window = current_app.config["PAYMENT_WINDOWS"].get(BANK_TRANSFER)
        context["bank_details"] = shop_settings().bank_transfer_details
        context["pay_by"] = order.created_at + window if window else None
    _send(kinds.ORDER_PLACED, order.email, f"order:{order.id}:placed", **context)


def order_moved(order_id: int, to_status: str, refunded_cents: int = 0) -> None:
    """The email of a status move (paid, shipped, cancelled, refunded);
    `refunded_cents`: what this move refunded (a paid order cancelled)."""
    kind = MOVE_EMAILS.get(to_status)
    if kind is None:
        return
    order = _order(order_id)
    _send(
        kind,
        order.email,
        f"order:{order.id}:{to_status}",
        refunded_cents=refunded_cents,
        amount=money(refunded_cents),
        in_full=True,
        **_order_context(order),
    )


def order_refunded(order_id: int, amount_cents: int) -> None:
    """One refund of part (or the rest) of an order. Each refund raises the
    order's refunded total, so that total names the refund."""
    order = _order(order_id)
    _send(
        kinds.ORDER_REFUNDED,
        order.email,
        f"order:{order.id}:refund:{order.refunded_cents}",
        refunded_cents=amount_cents,
        amount=money(amount_cents),
        in_full=order.refunded_cents >= order.total_cents,
        **_order_context(order),
    )


# --- accounts ---------------------------------------------------------------------


def password_reset(user: User, token: str, issued: str) -> None:
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    _send(
        kinds.PASSWORD_RESET,
        user.email,
        f"password_reset:{user.id}:{issued}",
        user=user,
        link=absolute_url("users.reset_password", token=token),
        lifetime=_lifetime(minutes),
        forgot_url=absolute_url("users.forgot_password"),
    )


def password_changed(user: User, when: str) -> None:
    _send(
        kinds.PASSWORD_CHANGED,
        user.email,
        f"password_changed:{user.id}:{when}",
        user=user,
        forgot_url=absolute_url("users.forgot_password"),
    )


def email_change(user: User, new_email: str, token: str, issued: str) -> None:
    minutes = current_app.config["EMAIL_CHANGE_MINUTES"]
    _send(
        kinds.EMAIL_CHANGE,
        new_email,
        f"email_change:{user.id}:{issued}",
        user=user,
        new_email=new_email,
        link=absolute_url("users.confirm_email", token=token),
        lifetime=_lifetime(minutes),
    )


def email_changed(user: User, old_email: str, when: str) -> None:
    _send(
        kinds.EMAIL_CHANGED,
        old_email,
        f"email_changed:{user.id}:{when}",
        user=user,
        new_email=user.email,
        forgot_url=absolute_url("users.forgot_password"),
    )


def account_exists(user: User, bucket: str, reason: str) -> None:
    """Someone tried to sign up (or to move another account) with this
    address: tell its owner, at most once per `bucket` (an hour)."""
    _send(
        kinds.ACCOUNT_EXISTS,
        user.email,
        f"account_exists:{user.id}:{bucket}",
        user=user,
        reason=reason,
        login_url=absolute_url("users.login"),
        forgot_url=absolute_url("users.forgot_password"),
    )


def _lifetime(minutes: int) -> str:
    span = timedelta(minutes=minutes)
    if minutes % (24 * 60) == 0:
        days = span.days
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minutes"


# --- the wishlist -----------------------------------------------------------------


def back_in_stock(restock_id: int, user: User, item: Item) -> bool:
    """One wisher's email for one restock: the restock's id names it, so a
    second restock is a second email and a retried worker queues none."""
    token = unsubscribe_token(user.id)
    return _send(
        kinds.BACK_IN_STOCK,
        user.email,
        f"back_in_stock:{restock_id}:{user.id}",
        list_unsubscribe=absolute_url("users.unsubscribe_one_click", token=token),
        user=user,
        item=item,
        item_name=item.name,
        item_url=absolute_url("items.detail", item_id=item.id),
        wishlist_url=absolute_url("users.wishlist"),
        unsubscribe_url=absolute_url("users.unsubscribe", token=token),
    )
