"""Jinja filters and globals: money, dates and the cart count in the nav."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, session
from markupsafe import Markup

from app.money import cents_to_decimal_text, money


def number(value: int | None) -> str:
    """A count with thousands separators: 45215 -> "45,215"."""
    return "" if value is None else f"{value:,}"


def shortdate(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def stock_label(stock: int) -> Markup:
    """ "Out of stock", "3 left" (low stock) or "40 in stock", marked for styling."""
    if stock <= 0:
        return Markup('<span class="stock-out">Out of stock</span>')
    if stock <= current_app.config["LOW_STOCK_THRESHOLD"]:
        return Markup('<span class="stock-low">%d left</span>') % stock
    return Markup("<span>%d in stock</span>") % stock


def cart_count() -> int:
    """Units in the session cart, for the nav on every page."""
    cart = session.get("cart") or {}
    return sum(q for q in cart.values() if isinstance(q, int))


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(shortdate)
    app.add_template_filter(number)
    app.add_template_filter(cents_to_decimal_text, "amount")
    app.add_template_global(cart_count)
    app.add_template_global(stock_label)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
