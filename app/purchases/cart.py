"""The cart, kept in the signed session cookie so any process can serve it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import session

from app.extensions import db
from app.models import Item, first_image_columns
from app.numbers import whole_number_or_none


@dataclass(frozen=True)
class CartLine:
    item: Item
    quantity: int
    # The item's first picture (key, widths, width, height, alt), or None.
    picture: tuple | None = None

    @property
    def total_cents(self) -> int:
        return self.item.price_cents * self.quantity

    @property
    def short(self) -> bool:
        return self.quantity > self.item.stock


def quantities() -> dict[int, int]:
    """item id -> quantity, ignoring anything malformed in the cookie."""
    raw = session.get("cart")
    if not isinstance(raw, dict):
        return {}
    cart = {}
    for key, value in raw.items():
        item_id = whole_number_or_none(str(key))
        if item_id is not None and isinstance(value, int) and value > 0:
            cart[item_id] = value
    return cart


def save(cart: dict[int, int]) -> None:
    """Store the cart; any change gets a new checkout token."""
    if cart:
        session["cart"] = {str(item_id): qty for item_id, qty in cart.items()}
    else:
        session.pop("cart", None)
    session["checkout_token"] = secrets.token_urlsafe(24)


def checkout_token() -> str:
    token = session.get("checkout_token")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(24)
        session["checkout_token"] = token
    return token


def lines() -> list[CartLine]:
    """The cart's lines with their items, in one query; gone items are dropped."""
    cart = quantities()
    if not cart:
        return []
    rows = db.session.execute(
        sa.select(Item, *first_image_columns())
        .where(Item.id.in_(cart), Item.archived_at.is_(None))
        .order_by(Item.name)
    ).all()
    if len(rows) != len(cart):
        save({row[0].id: cart[row[0].id] for row in rows})
    return [
        CartLine(item, cart[item.id], tuple(picture) if picture[0] else None)
        for item, *picture in rows
    ]


def clear() -> None:
    save({})
