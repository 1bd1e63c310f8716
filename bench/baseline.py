"""The floor of this stack: bare Flask views that draw the benchmarked pages
straight from the database driver, each with one small template.

- `catalogue`: the strict floor, the baseline of every page that has no
  baseline of its own: the catalogue page read the cheapest way, as the store
  itself reads it (the running total of live items, one row, and 24 rows).
- `counting_catalogue` (`/counting/items/`): the same page with a COUNT of the
  live items on every view, the floor before the store kept a running total;
  the report shows each page against it too.
- `checkout`: the checkout page of the signed-in shopper's cart: the cart's
  items, the active shipping methods, the shop's settings row and the
  shopper's saved addresses, with each delivery's total.
- `admin_orders`: the admin's order list: the orders counted by status (one
  grouped count) and the newest 50 with their customer's name.

The signed-in views read the store's own session cookie (the same SECRET_KEY:
the cart lives in it) and check who it names with one primary-key lookup, as
every signed-in page of the store must. Served by `make bench` under the same
gunicorn settings as the store.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pycountry
from flask import Flask, abort, render_template, request, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from config import database_url

URL = database_url(os.environ.get("DATABASE_URL"))
SQLITE = URL.startswith("sqlite")
ORDERS_PER_PAGE = 50
COUNT = "SELECT count(*) FROM items WHERE archived_at IS NULL"
LIVE_ITEMS = "SELECT live_items FROM store_totals WHERE id = 1"
PAGE = (
    "SELECT id, name, price_cents, stock FROM items WHERE archived_at IS NULL "
    "ORDER BY name, id LIMIT 24 OFFSET {offset}"
)
# Statements with parameters are written with "?" and given to psycopg as "%s".
WHO = "SELECT name, is_admin FROM users WHERE id = ? AND session_token = ?"
CART_ITEMS = (
    "SELECT id, name, price_cents, stock FROM items "
    "WHERE id IN ({marks}) AND archived_at IS NULL ORDER BY name"
)
METHODS = (
    "SELECT code, name, price_cents, free_over_cents FROM shipping_methods "
    "WHERE is_active ORDER BY position, id"
)
SETTINGS = "SELECT tax_rate_bp FROM shop_settings WHERE id = 1"
ADDRESSES = (
    "SELECT id, name, line1, line2, city, postcode, country FROM addresses "
    "WHERE user_id = ? ORDER BY id DESC"
)
STATUS_COUNTS = "SELECT status, count(*) FROM orders GROUP BY status"
NEWEST_ORDERS = (
    "SELECT o.number, o.created_at, u.name, o.email, o.ship_name, o.ship_city, "
    "o.ship_country, o.status, o.total_cents, o.refunded_cents "
    "FROM orders o JOIN users u ON u.id = o.user_id "
    "ORDER BY o.created_at DESC, o.id DESC LIMIT 50"  # ORDERS_PER_PAGE
)
LABELS = {
    "pending_payment": "Awaiting payment",
    "paid": "Paid",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
}
# The checkout form's country list never changes: drawn once.
COUNTRY_OPTIONS = Markup("").join(
    Markup('<option value="{}">{}</option>').format(code, name)
    for code, name in sorted(
        ((c.alpha_2, c.name) for c in pycountry.countries), key=lambda p: p[1]
    )
)

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
app.secret_key = os.environ.get("SECRET_KEY")  # reads the store's session cookie
_local = threading.local()


def connection():
    """One driver connection per thread, opened on first use."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        if SQLITE:
            conn = sqlite3.connect(
                URL.removeprefix("sqlite:///"), check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
        else:
            import psycopg

            conn = psycopg.connect(
                URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
            )
        _local.conn = conn
    return conn


def query(cur, sql: str, params: tuple = ()) -> list[tuple]:
    cur.execute(sql if SQLITE else sql.replace("?", "%s"), params)
    return cur.fetchall()


def signed_in(cur) -> tuple[int, str, bool]:
    """(id, name, is admin) of the user the session cookie names, or 403."""
    user_id, _, token = str(session.get("_user_id", "")).partition(":")
    if not user_id.isdigit() or not token:
        abort(403)
    rows = query(cur, WHO, (int(user_id), token))
    if not rows:
        abort(403)
    name, is_admin = rows[0]
    return int(user_id), name, bool(is_admin)


@app.template_filter()
def money(cents: int) -> str:
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}.{rest:02d}"


@app.template_filter()
def shortdate(value) -> str:
    """SQLite gives the stored text, psycopg a datetime."""
    if isinstance(value, str):
        return value[:16] + " UTC"
    return value.strftime("%Y-%m-%d %H:%M UTC")


@app.get("/items/")
def catalogue():
    """The strict floor: the running total's row and the page's 24 rows."""
    return catalogue_page(LIVE_ITEMS)


@app.get("/counting/items/")
def counting_catalogue():
    """The counting floor: a COUNT of every live item, then the 24 rows."""
    return catalogue_page(COUNT)


def catalogue_page(total_sql: str):
    page = max(request.args.get("page", 1, type=int), 1)
    cur = connection().cursor()
    cur.execute(total_sql)
    (total,) = cur.fetchone()
    cur.execute(PAGE.format(offset=(page - 1) * 24))
    rows = cur.fetchall()
    return render_template("baseline.html", rows=rows, total=total, page=page)


@app.get("/purchases/checkout")
def checkout():
    """The cart's lines, each delivery's shipping and total, the tax, the saved
    addresses, and the hidden fields the store's POST checks."""
    cur = connection().cursor()
    user_id, name, _ = signed_in(cur)
    raw = session.get("cart")
    cart = {int(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    if not cart:
        abort(404)
    marks = ", ".join("?" * len(cart))
    items = query(cur, CART_ITEMS.format(marks=marks), tuple(cart))
    lines = [(id_, n, cart[id_], price * cart[id_], cart[id_] > stock)
             for id_, n, price, stock in items]  # fmt: skip
    subtotal = sum(line[3] for line in lines)
    ((rate,),) = query(cur, SETTINGS)
    tax = (subtotal * rate + 5_000) // 10_000
    options = []
    for code, method, price, free_over in query(cur, METHODS):
        shipping = 0 if free_over is not None and subtotal >= free_over else price
        options.append(
            (code, method, price, shipping, free_over, subtotal + shipping + tax)
        )
    addresses = query(cur, ADDRESSES, (user_id,))
    seen_prices = ",".join(f"{id_}:{price}" for id_, _, price, _ in items)
    return render_template(
        "baseline_checkout.html",
        name=name,
        lines=lines,
        subtotal=subtotal,
        tax=tax,
        rate=f"{rate / 100:g}%",
        options=options,
        addresses=addresses,
        countries=COUNTRY_OPTIONS,
        csrf=generate_csrf(),
        token=session.get("checkout_token", ""),
        seen_prices=seen_prices,
        seen_shipping=",".join(f"{o[0]}:{o[2]}" for o in options),
        seen_tax=rate,
    )


@app.get("/purchases/orders/")
def admin_orders():
    """The tabs with each status's count, and the newest page of orders."""
    cur = connection().cursor()
    if not signed_in(cur)[2]:
        abort(403)
    counts = dict(query(cur, STATUS_COUNTS))
    orders = query(cur, NEWEST_ORDERS)
    total = sum(counts.values())
    return render_template(
        "baseline_orders.html",
        counts=counts,
        total=total,
        pages=-(-total // ORDERS_PER_PAGE),
        labels=LABELS,
        orders=orders,
    )
