"""Helpers for the browser tests; the fixtures are in tests/e2e/conftest.py.

The store's seed data (people and items), the running store, what a person does
in the browser (sign in, sign out, the nav), and `Look`: an axe-core scan (no
serious or critical violations), a no-horizontal-scroll check and a screenshot
under test-artifacts/screenshots/ for every page a test looks at.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import Item, User, UserItem
from config import TestingConfig
from tests.helpers import order_row

# Debian's package; CHROMIUM=/path (make test-browser CHROMIUM=...) points elsewhere.
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
BLOCKING_IMPACTS = ("serious", "critical")

ADMIN = {"name": "Ada Admin", "email": "ada@example.com", "password": "ada-admin-pass"}
BUYER = {"name": "Bea Buyer", "email": "bea@example.com", "password": "bea-shop-pass"}
SHOPPERS = [
    {"name": "Kim Keys", "email": "kim@example.com", "password": "kim-shop-pass"},
    {"name": "Lee Racer", "email": "lee@example.com", "password": "lee-shop-pass"},
    {"name": "Max Racer", "email": "max@example.com", "password": "max-shop-pass"},
]
# name, price in cents, stock, description
ITEMS = [
    ("Brass Desk Lamp", 2450, 40, "A heavy brass lamp with a linen shade."),
    ("Paper Lamp Shade", 1800, 15, "Rice paper, 40 cm across."),
    ("Ceramic Mug", 900, 60, "Stoneware, holds 350 ml.\nDishwasher safe."),
    ("Linen Tea Towel", 725, 25, "Washed linen, 50 × 70 cm."),
    ("Walnut Cutting Board", 3800, 8, "Oiled walnut end grain."),
    ("Wool Throw Blanket", 6400, 3, "Lambswool, 130 × 170 cm."),
    ("Enamel Camping Kettle", 2995, 0, "Holds 1.5 litres; back in spring."),
    ("Beeswax Candle Pair", 1200, 30, "Two hand-dipped tapers."),
    ("Cast Iron Skillet", 4500, 12, "Pre-seasoned, 26 cm."),
]


@dataclass
class Store:
    """The running store: its address, its app (for looking at the database)."""

    url: str
    app: Flask

    def scalar(self, statement):
        with self.app.app_context():
            return db.session.scalar(statement)

    def scalars(self, statement) -> list:
        with self.app.app_context():
            return list(db.session.scalars(statement))

    def item_id(self, name: str) -> int:
        return self.scalar(sa.select(Item.id).where(Item.name == name))

    def add_user(self, person: dict) -> int:
        with self.app.app_context():
            user = User(name=person["name"], email=person["email"])
            user.set_password(person["password"])
            db.session.add(user)
            db.session.commit()
            return user.id

    def add_item(self, name: str, price_cents: int, stock: int, **kw) -> int:
        with self.app.app_context():
            item = Item(name=name, price_cents=price_cents, stock=stock, **kw)
            db.session.add(item)
            db.session.commit()
            return item.id


def seed() -> None:
    """A small, realistic store: items, an admin, shoppers, one past order."""
    users = {}
    for person, is_admin in [(ADMIN, True), (BUYER, False)] + [
        (shopper, False) for shopper in SHOPPERS
    ]:
        user = User(name=person["name"], email=person["email"], is_admin=is_admin)
        user.set_password(person["password"])
        db.session.add(user)
        users[person["email"]] = user
    items = {}
    for name, price, stock, description in ITEMS:
        items[name] = Item(
            name=name, price_cents=price, stock=stock, description=description
        )
        db.session.add(items[name])
    db.session.flush()
    # Bea's earlier order, so the admin pages have buyers to show.
    bought = [("Walnut Cutting Board", 2), ("Ceramic Mug", 1)]
    order = order_row(
        users[BUYER["email"]].id,
        BUYER["email"],
        sum(items[name].price_cents * qty for name, qty in bought),
        "seeded-order",
    )
    db.session.add(order)
    for name, qty in bought:
        db.session.add(
            UserItem(
                user=users[BUYER["email"]],
                item=items[name],
                quantity=qty,
                unit_price_cents=items[name].price_cents,
                order=order,
            )
        )
    db.session.commit()


# --- looking at pages: axe, layout, screenshots ----------------------------


@dataclass
class AxeReport:
    """Every violation axe found, by page; written to test-artifacts/axe.json."""

    pages: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, name: str, violations: list[dict]) -> None:
        self.pages[name] = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "targets": [n["target"] for n in v["nodes"]][:5],
            }
            for v in violations
        ]


_axe = Axe()


class Look:
    """Check and record the page a test has just reached, as a person sees it."""

    def __init__(self, page: Page, report: AxeReport) -> None:
        self.page = page
        self.report = report

    @property
    def width(self) -> int:
        return self.page.viewport_size["width"]

    def __call__(self, name: str) -> None:
        """axe (no serious/critical), no sideways scrolling, a screenshot."""
        self.page.wait_for_load_state("load")
        label = f"{name}-{self.width}"
        self.screenshot(label)
        self.fits_width(label)
        self.accessible(label)

    def screenshot(self, label: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{label}.png", full_page=True)

    def fits_width(self, label: str) -> None:
        widths = self.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], (
            f"{label}: the page scrolls sideways ({widths[0]} px wide "
            f"in a {widths[1]} px window)"
        )

    def accessible(self, label: str) -> None:
        violations = _axe.run(self.page).response["violations"]
        self.report.add(label, violations)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"{label}: axe found\n" + "\n".join(
            f"- {v['impact']} {v['id']}: {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:5]}"
            for v in blocking
        )


# --- what a person does -----------------------------------------------------


def open_menu(page: Page) -> None:
    """On a phone the header's links sit in a <details> menu: open it (a
    click on its summary, as a person taps it). Wider, they show already."""
    menu = page.locator("header.site-header details.menu")
    if menu.locator("summary").is_visible() and menu.get_attribute("open") is None:
        menu.locator("summary").click()
        expect(menu).to_have_attribute("open", "")


def main_nav(page: Page):
    """The site's main navigation, its menu opened first on a phone."""
    open_menu(page)
    return page.get_by_role("navigation", name="Main")


def sign_in(page: Page, person: dict) -> None:
    """From any page: the nav's Sign in link, the form, the button."""
    main_nav(page).get_by_role("link", name="Sign in").click()
    page.get_by_label("Email", exact=True).fill(person["email"])
    page.get_by_label("Password", exact=True).fill(person["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_contain_text(f"Signed in as {person['name']}")


def sign_out(page: Page) -> None:
    main_nav(page).get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    expect(main_nav(page).get_by_role("link", name="Sign in")).to_be_visible()


def nav_link(page: Page, name: str):
    return main_nav(page).get_by_role("link", name=name, exact=True)


@contextmanager
def served(prefix: str, fill: Callable[[], None], **settings) -> Iterator[Store]:
    """A store on a fresh SQLite database of its own (migrated, then `fill()`
    run in its app context; pictures under the same folder), served by
    werkzeug's threaded server on a free loopback port; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))

    class BrowserConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{folder / 'store.db'}"
        MEDIA_ROOT = str(folder / "media")

    for name, value in settings.items():
        setattr(BrowserConfig, name, value)
    app = create_app(BrowserConfig)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        fill()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["STORE_URL"] = url  # the links in its emails and pages
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Store(url=url, app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
