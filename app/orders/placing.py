"""Placing an order: the cart's stock, the prices the shopper saw, the order
with its money, address and lines, in one transaction or not at all.

The shopper's checkout page showed prices, a shipping price and a tax rate;
the order is charged exactly those or not placed. Stock is taken by one
conditional UPDATE for the whole cart that also checks each price:
`UPDATE items SET stock = stock - q WHERE id IN (...) AND stock >= q AND
price_cents = <the price seen>`. A line it did not change is short of stock,
re-priced or gone, and the page comes back saying which, with nothing bought.
On PostgreSQL the cart's rows are locked first, in item-id order, so
concurrent checkouts cannot deadlock; SQLite's BEGIN IMMEDIATE lets one
writer in at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app import metrics
from app.database import begin_write, lock_in_key_order
from app.extensions import db
from app.limits import SAVED_ADDRESSES_MAX
from app.mail import messages
from app.models import Address, Item, Order, OrderEvent, ShippingMethod, UserItem
from app.money import money
from app.orders.numbers import new_number
from app.orders.pricing import Totals, format_rate, shop_settings, totals
from app.orders.statuses import PENDING_PAYMENT

NUMBER_TRIES = 5
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postcode", "country")


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    line2: str
    city: str
    postcode: str
    country: str


@dataclass(frozen=True)
class Quote:
    """What the checkout page showed: each item's price, each shipping
    method's price and the tax rate. The order is placed at these or not."""

    prices: dict[int, int]
    shipping: dict[str, int]
    tax_rate_bp: int


@dataclass
class Result:
    number: str | None = None
    problems: list[str] = field(default_factory=list)
    totals: Totals | None = None


def place(
    *,
    user_id: int,
    email: str,
    token: str,
    wanted: dict[int, int],
    quote: Quote,
    address: ShippingAddress,
    shipping_code: str,
    payment_method: str,
    save_address: bool,
) -> Result:
    """Take the stock and write the order, or write nothing and say why. Commits.

    A second submit of the same checkout (the cart's token is a unique key)
    raises IntegrityError, for the caller to answer with the first order.
    """
    begin_write()
    ids = sorted(wanted)
    lock_in_key_order(Item.id, ids)
    quantity = sa.case(wanted, value=Item.id)
    seen_price = sa.case({i: quote.prices.get(i, -1) for i in ids}, value=Item.id)
    taken = {
        item_id: (price, name)
        for item_id, price, name in db.session.execute(
            sa.update(Item)
            .where(
                Item.id.in_(ids),
                Item.archived_at.is_(None),
                Item.stock >= quantity,
                Item.price_cents == seen_price,
            )
            .values(stock=Item.stock - quantity, updated_at=sa.func.now())
            .returning(Item.id, Item.price_cents, Item.name)
            .execution_options(synchronize_session=False)
        )
    }
    if len(taken) < len(ids):
        db.session.rollback()
        return Result(problems=_why_not(wanted, quote, set(ids) - set(taken)))

    method = db.session.scalar(
        sa.select(ShippingMethod).where(
            ShippingMethod.code == shipping_code, ShippingMethod.is_active
        )
    )
    rate = shop_settings().tax_rate_bp
    problems = _quote_changed(method, rate, quote, shipping_code)
    if problems:
        db.session.rollback()
        return Result(problems=problems)
    subtotal = sum(wanted[i] * price for i, (price, _) in taken.items())
    money_ = totals(subtotal, method, rate)

    order_id, number = _insert_order(
        user_id=user_id,
        email=email,
        token=token,
        status=PENDING_PAYMENT,
        subtotal_cents=money_.subtotal_cents,
        shipping_cents=money_.shipping_cents,
        tax_cents=money_.tax_cents,
        total_cents=money_.total_cents,
        tax_rate_bp=rate,
        payment_method=payment_method,
        shipping_method=method.code,
        shipping_method_name=method.name,
        **{f"ship_{name}": getattr(address, name) for name in ADDRESS_FIELDS},
    )
    # One INSERT statement for all the lines (executemany): nothing needs their ids.
    db.session.execute(
        sa.insert(UserItem),
        [
            {"user_id": user_id, "item_id": i, "order_id": order_id,
             "item_name": name, "quantity": wanted[i], "unit_price_cents": price}
            for i, (price, name) in sorted(taken.items())
        ],
    )  # fmt: skip
    db.session.add(
        OrderEvent(
            order_id=order_id,
            from_status=None,
            to_status=PENDING_PAYMENT,
            actor_id=user_id,
            note=f"Placed: {money(money_.total_cents)} by {payment_method.replace('_', ' ')}.",
        )
    )
    if save_address:
        _save_address(user_id, address)
    # The receipt (with the transfer details) joins the outbox in this
    # transaction: no order without its email, no email without its order.
    messages.order_placed(order_id)
    db.session.commit()
    metrics.ORDERS_PLACED.labels(payment_method=payment_method).inc()
    return Result(number=number, totals=money_)


def _insert_order(**values) -> tuple[int, str]:
    """The order row under a new random number, retried on the rare collision
    (the unique key decides; a savepoint keeps the stock already taken)."""
    for _ in range(NUMBER_TRIES):
        number = new_number()
        try:
            with db.session.begin_nested():
                order_id = db.session.execute(
                    sa.insert(Order).values(number=number, **values).returning(Order.id)
                ).scalar_one()
            return order_id, number
        except sa.exc.IntegrityError:
            taken = db.session.scalar(sa.select(Order.id).where(Order.number == number))
            if taken is None:  # not the number: the cart's token, a double submit
                raise
    raise RuntimeError("no free order number after several tries")


def _why_not(wanted: dict[int, int], quote: Quote, missing: set[int]) -> list[str]:
    """Why these lines could not be taken: sold out, re-priced or gone."""
    rows = db.session.execute(
        sa.select(Item.id, Item.name, Item.price_cents, Item.stock, Item.archived_at)
        .where(Item.id.in_(missing))
        .order_by(Item.name)
    ).all()
    problems = []
    for item_id, name, price, stock, archived_at in rows:
        if archived_at is not None:
            problems.append(f"{name} is no longer sold: it has left your cart.")
        elif price != quote.prices.get(item_id):
            was = quote.prices.get(item_id)
            problems.append(
                f"The price of {name} changed from {money(was)} to {money(price)}."
                if was is not None
                else f"The price of {name} is {money(price)}."
            )
        elif stock < wanted[item_id]:
            metrics.STOCK_OUTS.inc()
            problems.append(
                f"Only {stock} of {name} left: lower the quantity in your cart."
                if stock
                else f"{name} sold out: remove it from your cart."
            )
    if len(rows) < len(missing):
        problems.append("An item in your cart is no longer sold.")
    return problems


def _quote_changed(
    method: ShippingMethod | None, rate: int, quote: Quote, code: str
) -> list[str]:
    problems = []
    if method is None:
        problems.append("That shipping method is no longer offered: choose another.")
    elif method.price_cents != quote.shipping.get(code):
        problems.append(
            f"{method.name} now costs {money(method.price_cents)}"
            + (
                f" (was {money(quote.shipping[code])})."
                if code in quote.shipping
                else "."
            )
        )
    if rate != quote.tax_rate_bp:
        problems.append(
            f"The tax rate changed from {format_rate(quote.tax_rate_bp)} to "
            f"{format_rate(rate)}."
        )
    return problems


def _save_address(user_id: int, address: ShippingAddress) -> None:
    """Keep the address for next time, unless it is saved already or the
    shopper keeps as many as the store allows."""
    saved = db.session.scalars(
        sa.select(Address).where(Address.user_id == user_id)
    ).all()
    if len(saved) >= SAVED_ADDRESSES_MAX:
        return
    if any(
        all(getattr(a, n) == getattr(address, n) for n in ADDRESS_FIELDS) for a in saved
    ):
        return
    db.session.add(
        Address(user_id=user_id, **{n: getattr(address, n) for n in ADDRESS_FIELDS})
    )
