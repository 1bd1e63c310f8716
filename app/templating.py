"""Jinja filters and globals: money, dates and the cart count in the nav."""

from __future__ import annotations

from datetime import datetime

import pycountry
from flask import Flask, session
from flask_login import current_user
from markupsafe import Markup

from app.limits import LOW_STOCK_SHOWN
from app.mail.links import store_url
from app.money import cents_to_decimal_text, money
from app.orders.pricing import format_rate
from app.security import PUBLIC_ENDPOINTS


def number(value: int | None) -> str:
    """A count with thousands separators: 45215 -> "45,215"."""
    return "" if value is None else f"{value:,}"


def shortdate(value: datetime | None) -> str:
    """A stored (naive UTC) time with its zone: "2026-12-01 20:34 UTC"."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def country_name(code: str | None) -> str:
    """ISO 3166 alpha-2 to the country's name: "DE" -> "Germany"."""
    country = pycountry.countries.get(alpha_2=code or "")
    return country.name if country else (code or "")


def stock_label(stock: int) -> Markup:
    """ "Out of stock", "Only 3 left" (true and low: LOW_STOCK_SHOWN) or
    "40 in stock", marked for styling."""
    if stock <= 0:
        return Markup('<span class="stock-out">Out of stock</span>')
    if stock <= LOW_STOCK_SHOWN:
        return Markup('<span class="stock-low">Only %d left</span>') % stock
    return Markup("<span>%d in stock</span>") % stock


def site_url(path: str) -> str:
    """A path on the store's own address (STORE_URL), never the request's
    Host header: canonical links and sitemaps name one site."""
    return store_url() + path


def cart_count() -> int:
    """Units in the session cart, for the nav on every page."""
    cart = session.get("cart") or {}
    return sum(q for q in cart.values() if isinstance(q, int))


def signed_in() -> bool:
    """Whether a user is signed in, for macros imported without the context."""
    return current_user.is_authenticated


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(shortdate)
    app.add_template_filter(number)
    app.add_template_filter(cents_to_decimal_text, "amount")
    app.add_template_filter(format_rate, "rate")
    app.add_template_filter(country_name, "country")
    app.add_template_global(cart_count)
    app.add_template_global(signed_in)
    app.add_template_global(site_url)
    app.add_template_global(PUBLIC_ENDPOINTS.__contains__, "public_endpoint")
    app.add_template_global(stock_label)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
