"""Browser fixtures: the store under a real server, driven by Debian's Chromium.

One werkzeug server per run, on a free loopback port, with its own SQLite
database migrated by Alembic and seeded with a few items and accounts. Every
page a test looks at goes through `Look` (tests/e2e/helpers.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from app import create_app
from app.extensions import db
from app.mail import outbox
from config import TestingConfig
from tests.e2e.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    AxeReport,
    Look,
    Store,
    seed,
    served,
)
from tests.helpers import SmtpServer

# --- the browser -----------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _chromium() -> None:
    """No Chromium: skip on a developer's machine, fail in CI (CI=true)."""
    if os.access(CHROMIUM, os.X_OK):
        return
    reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Debian's Chromium, headless, quiet on the network; never a downloaded one."""
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def base_url(store: Store) -> str:
    """Where `page.goto("/")` goes: the store under test."""
    return store.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {
        **browser_context_args,
        "locale": "en-US",
        "timezone_id": "UTC",
        # E2E_COLOR_SCHEME=dark runs the same checks on the dark theme.
        "color_scheme": os.environ.get("E2E_COLOR_SCHEME", "light"),
        "reduced_motion": "reduce",
        "accept_downloads": True,
    }


@pytest.fixture(autouse=True)
def _quick_timeouts() -> None:
    # A page of this store answers in milliseconds: fail in seconds, not 30.
    expect.set_options(timeout=8_000)


@pytest.fixture
def page(page: Page) -> Page:
    page.set_viewport_size(DESKTOP)
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def open_page(new_context):
    """A page in a fresh browser context (its own cookies) at the given width."""

    def opener(viewport: dict = DESKTOP) -> Page:
        new = new_context(viewport=viewport).new_page()
        new.set_default_timeout(10_000)
        return new

    return opener


# --- the server -------------------------------------------------------------


@pytest.fixture(scope="session")
def store() -> Iterator[Store]:
    """The store under werkzeug's threaded server, on its own fresh database."""
    with served("store-e2e-", seed) as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a loopback port for this test."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def worker(store: Store, smtp: SmtpServer):
    """One pass of the outbox worker over the store's database, sending to
    `smtp`: call it to deliver what the store queued."""

    class WorkerConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = store.app.config["SQLALCHEMY_DATABASE_URI"]
        MAIL_SERVER = "127.0.0.1"
        MAIL_PORT = smtp.port

    worker_app = create_app(WorkerConfig)

    def run() -> int:
        with worker_app.app_context():
            return outbox.deliver_due().sent

    yield run
    with worker_app.app_context():
        db.engine.dispose()


# --- looking at pages: axe, layout, screenshots ----------------------------


@pytest.fixture(scope="session")
def axe_report() -> Iterator[AxeReport]:
    report = AxeReport()
    yield report
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps(report.pages, indent=2))


@pytest.fixture
def look(page: Page, axe_report: AxeReport) -> Look:
    return Look(page, axe_report)


@pytest.fixture
def make_look(axe_report: AxeReport):
    """A `Look` for a page the test opened itself (another context or width)."""
    return lambda page: Look(page, axe_report)
