"""The store as gunicorn serves it in production: `gunicorn -c gunicorn.conf.py
wsgi:app` with STORE_ENV=production on a free loopback port, spoken to over
plain HTTP. Headers, cookies, HSTS, CORS and trusted hosts as the real server
sends them, no debugger, a missing SECRET_KEY refused, project files never
served, and many buyers and many sign-in attempts across worker processes.

`gunicorn_store(...)` starts a server and yields a `Server`; `Browser` is a
tiny HTTP client that keeps cookies (Secure ones too: the tests speak plain
HTTP to 127.0.0.1) and never follows redirects, so every answer can be checked.
Every test here is marked slow.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Order, User, UserItem
from config import ROOT
from tests.helpers import (
    CROSS_ORIGIN,
    CSRF_RE,
    NEVER_SERVED,
    TEST_PASSWORD,
    assert_security_headers,
    checkout_fields,
    checkout_problems,
    cookie_flags,
    count,
    redis_or_skip,
    stock_of,
)

pytestmark = pytest.mark.slow

NO_CONTROL_SOCKET = ("--no-control-socket",)  # several test servers at once

# --- gunicorn on a free port, and a tiny browser ------------------------------------


GUNICORN = Path(sys.executable).with_name("gunicorn")
# Settings a developer's shell may hold that would change what is being tested.
UNSET = (
    "FLASK_DEBUG",
    "FLASK_APP",
    "TRUSTED_HOSTS",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "LOGIN_RATE_LIMIT",
    "GUNICORN_CMD_ARGS",
    "RATELIMIT_PER_PROCESS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def set_cookies(self) -> dict[str, str]:
        """Set-Cookie headers by cookie name, whole (value and flags)."""
        found = {}
        for header in self.headers.get_all("Set-Cookie") or []:
            found[header.split("=", 1)[0].strip()] = header
        return found

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class Browser:
    """One visitor: a cookie jar and plain HTTP/1.1 requests to one server."""

    port: int
    host: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        form: dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        sent = {"Host": self.host or f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        reply = Reply(response.status, response.headers, text)
        self._keep_cookies(reply)
        return reply

    def _keep_cookies(self, reply: Reply) -> None:
        for name, header in reply.set_cookies.items():
            value = header.split("=", 1)[1].split(";", 1)[0]
            flags = header.lower()
            if not value or "max-age=0" in flags or "01 jan 1970" in flags:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict | None = None, **kw) -> Reply:
        return self.request("POST", path, form=form or {}, **kw)

    def submit(self, page: str, action: str, form: dict | None = None) -> Reply:
        """Open `page`, take its CSRF token and post `form` to `action`."""
        html = self.get(page).text
        match = CSRF_RE.search(html)
        assert match, f"{page} has no CSRF token"
        return self.post(action, {"csrf_token": match.group(1), **(form or {})})


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def browser(self, **kw) -> Browser:
        return Browser(self.port, **kw)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def production_env(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        STORE_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        GUNICORN_LOGLEVEL="info",
        # Most servers here need no Redis: their limits counted per worker,
        # knowingly (gunicorn.conf.py refuses that otherwise).
        RATELIMIT_PER_PROCESS="true",
    )
    env.update(settings)
    return env


@contextmanager
def gunicorn_store(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 2,
    threads: int = 1,
    extra_args: tuple[str, ...] = (),
    boot_timeout: float = 45,
    **settings: str,
) -> Iterator[Server]:
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a free port, until the block ends."""
    port = free_port()
    env = production_env(
        database_url,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_THREADS=str(threads),
        **settings,
    )
    log = log_dir / f"gunicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", *extra_args, "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log)
    try:
        _wait_until_up(server, boot_timeout)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{server.log_text()}")
        try:
            if server.browser().get("/healthz", timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer in {timeout}s:\n{server.log_text()}")


def _stop(process: subprocess.Popen) -> None:
    """Quick shutdown (SIGINT), then kill this server's process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


# --- one production server for the module ---------------------------------------


@pytest.fixture(scope="module")
def production_server(database_uri, tmp_path_factory) -> Iterator[Server]:
    """gunicorn -c gunicorn.conf.py wsgi:app, STORE_ENV=production, TRUSTED_HOSTS set."""
    with gunicorn_store(
        database_uri,
        tmp_path_factory.mktemp("production"),
        workers=2,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        TRUSTED_HOSTS="127.0.0.1, localhost",
        LOGIN_RATE_LIMIT="1000 per minute",
    ) as server:
        yield server


# --- many buyers, many processes (SECURITY 15) ------------------------------------

BUYERS = 60
UNITS = 10


def _prepare_buyer(server: Server, email: str, item_id: int):
    """Sign in, put one unit in the cart, open the checkout page and fill it in."""
    browser = server.browser()
    login = browser.submit(
        "/users/login", "/users/login", {"email": email, "password": TEST_PASSWORD}
    )
    assert login.status == 302, login.text
    added = browser.submit(
        f"/items/{item_id}", "/purchases/cart", {"item_id": item_id, "quantity": 1}
    )
    assert added.status == 302, added.text
    page = browser.get("/purchases/checkout")
    assert page.status == 200, page.text
    return browser, checkout_fields(page.text)


def statuses_in_access_log(log: str) -> list[int]:
    return [int(s) for s in re.findall(r'"[A-Z]+ \S+ HTTP/1\.[01]" (\d{3})', log)]


def test_s15_many_buyers_in_many_gunicorn_processes_get_exactly_the_units(
    app, database_uri, make_item, make_users, tmp_path, engine_name
):
    """60 signed-in buyers press "Place order" at once, one unit each, 10 units:
    4 workers × 2 threads. Ten orders; the other fifty get the page back (409)
    saying the lamp sold out, and keep their carts."""
    lamp = make_item(name="Last Lamp", price_cents=999, stock=UNITS)
    buyers = make_users(BUYERS)
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=4,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        LOGIN_RATE_LIMIT="100000 per minute",
        # Every thread may write: this race is about the database's rules,
        # not about shedding writes beyond the slots (tests/test_faults.py).
        WRITE_SLOTS="2",
    ) as server:
        with ThreadPoolExecutor(8) as pool:
            prepared = list(
                pool.map(lambda b: _prepare_buyer(server, b[1], lamp), buyers)
            )
        assert stock_of(app, lamp) == UNITS
        barrier = threading.Barrier(BUYERS)
        results: list = [None] * BUYERS

        def buy(index: int) -> None:
            browser, form = prepared[index]
            try:
                barrier.wait(timeout=30)
                results[index] = browser.post("/purchases/checkout", form)
            except BaseException as error:  # reported below
                results[index] = error

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(BUYERS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in threads), "a checkout hung"
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        winners = [
            i
            for i, r in enumerate(results)
            if r.status == 302 and r.location.startswith("/purchases/orders/")
        ]
        losers = [i for i, r in enumerate(results) if r.status == 409]
        carts = [prepared[i][0].get("/purchases/cart").text for i in losers]
    log = server.log_text()

    statuses = sorted({r.status for r in results})
    assert set(statuses) <= {302, 409}, f"{statuses}: no checkout may fail"
    assert len(winners) == UNITS, f"{len(winners)} won in {elapsed:.1f}s"
    assert len(losers) == BUYERS - UNITS
    for i in losers:  # every other buyer is told on the page that came back
        assert checkout_problems(results[i].text) == [
            "Last Lamp sold out: remove it from your cart."
        ]
        assert "very busy" not in results[i].text
    for cart in carts:  # ...and keeps the cart
        assert "Last Lamp" in cart
        assert "Only 0 left: lower the quantity." in cart
    assert stock_of(app, lamp) == 0
    assert count(app, UserItem) == UNITS
    assert count(app, Order) == UNITS
    with app.app_context():
        buyer_ids = sorted(db.session.scalars(sa.select(UserItem.user_id)))
    assert buyer_ids == sorted(buyers[i][0] for i in winners)
    logged = statuses_in_access_log(log)
    assert 500 not in logged and 503 not in logged
    for text in [r.text for r in results] + carts + [log]:
        assert "database is locked" not in text
        assert "Traceback" not in text


# --- cookies, headers, HSTS, CORS and hosts as gunicorn sends them (SECURITY 18-21) ---


def test_s18_production_cookies_are_secure_httponly_and_lax(production_server, store):
    browser = production_server.browser()
    login = browser.submit(
        "/users/login",
        "/users/login",
        {"email": "sam@example.com", "password": TEST_PASSWORD, "remember": "y"},
    )
    assert login.status == 302
    cookies = login.set_cookies
    assert {"session", "remember_token"} <= set(cookies)
    for name in ("session", "remember_token"):
        assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(cookies[name])


def test_s19_headers_as_gunicorn_serves_them(production_server, store):
    browser = production_server.browser()
    # Public pages may be kept for the back/forward cache (never by a shared
    # cache); the cart and error pages are never stored.
    for url, status, cache in (
        ("/items/", 200, "private, no-cache"),
        (f"/items/{store['lamp']}", 200, "private, no-cache"),
        ("/users/login", 200, "private, no-cache"),
        ("/purchases/cart", 200, "no-store"),
        ("/no-such-page", 404, "no-store"),
        ("/users/logout", 405, "no-store"),
    ):
        reply = browser.get(url)
        assert reply.status == status, url
        assert_security_headers(reply.headers, url)
        assert reply.header("Cache-Control") == cache, url
    assert browser.get("/healthz").header("X-Content-Type-Options") == "nosniff"


def test_s20_hsts_in_production_under_gunicorn(production_server):
    browser = production_server.browser()
    for url in ("/items/", "/no-such-page", "/healthz"):
        hsts = browser.get(url).header("Strict-Transport-Security")
        assert hsts, url
        max_age = int(hsts.split(";")[0].strip().removeprefix("max-age="))
        assert max_age >= 31536000
        assert "includesubdomains" in hsts.lower()


def test_s21_cross_origin_requests_get_no_cors_headers_under_gunicorn(
    production_server,
):
    browser = production_server.browser()
    for method, url in (
        ("GET", "/items/"),
        ("OPTIONS", "/purchases/checkout"),
        ("GET", "/healthz"),
    ):
        reply = browser.request(method, url, headers=CROSS_ORIGIN)
        assert reply.status < 500
        assert reply.header("Access-Control-Allow-Origin") is None, url


def test_trusted_hosts_refuse_a_foreign_host_header_under_gunicorn(production_server):
    """TRUSTED_HOSTS: a forged Host (cache poisoning, password-reset links) is 400."""
    for host in ("evil.example", "127.0.0.1.evil.example", "evil.example:8000"):
        reply = production_server.browser(host=host).get("/items/")
        assert reply.status == 400, host
        assert "Bad request" in reply.text
        assert "evil" not in reply.text
    assert production_server.browser(host="localhost:8000").get("/items/").status == 200


# --- the login limit, shared by the workers through Redis (SECURITY 24) -------------


def test_s24_the_login_limit_holds_across_gunicorn_workers_with_redis(
    app, database_uri, make_user, tmp_path
):
    """4 sync workers share one Redis counter: 5 attempts a minute in total,
    and sign-up and password reset draw on the same budget (SECURITY 42)."""
    redis_url = "redis://127.0.0.1:6379"
    connection = redis_or_skip(redis_url)
    sam = make_user(email="sam@example.com")
    with app.app_context():  # the store's own slow hash, not the tests' quick one:
        # each attempt keeps a sync worker busy, so the attempts spread over them
        db.session.get(User, sam).set_password(TEST_PASSWORD)
        db.session.commit()
    prefix = f"store-test-{uuid.uuid4().hex}"
    attempts, allowed = 18, 5
    try:
        with gunicorn_store(
            database_uri,
            tmp_path,
            workers=4,
            threads=1,
            extra_args=(
                *NO_CONTROL_SOCKET,
                "--access-logformat",
                '%(p)s "%(r)s" %(s)s',
            ),
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=prefix,
            LOGIN_RATE_LIMIT=f"{allowed} per minute",
        ) as server:
            forms = []
            for _ in range(attempts):  # GETs are not counted
                browser = server.browser()
                token = CSRF_RE.search(browser.get("/users/login").text).group(1)
                forms.append((browser, token))
            barrier = threading.Barrier(attempts)
            replies: list = [None] * attempts

            def attempt(index: int) -> None:
                browser, token = forms[index]
                bad = {
                    "csrf_token": token,
                    "email": "sam@example.com",
                    "password": f"wrong-{index}",
                }
                try:
                    barrier.wait(timeout=30)
                    replies[index] = browser.post("/users/login", bad)
                except BaseException as error:
                    replies[index] = error

            threads = [
                threading.Thread(target=attempt, args=(i,)) for i in range(attempts)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            browser, token = forms[0]
            right = browser.post(
                "/users/login",
                {
                    "csrf_token": token,
                    "email": "sam@example.com",
                    "password": TEST_PASSWORD,
                },
            )
            others = []
            for url, data in (
                ("/users/register", {"name": "New", "email": "new@example.com",
                                     "password": "a-long-new-pass",
                                     "password_confirm": "a-long-new-pass"}),
                ("/users/password/forgot", {"email": "sam@example.com"}),
            ):  # fmt: skip
                browser = server.browser()
                token = CSRF_RE.search(browser.get(url).text).group(1)
                others.append(browser.post(url, {"csrf_token": token, **data}))
        log = server.log_text()
    finally:
        for key in connection.scan_iter(f"{prefix}*"):
            connection.delete(key)

    errors = [r for r in replies if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = sorted(r.status for r in replies)
    assert statuses == [422] * allowed + [429] * (attempts - allowed), statuses
    for reply in replies:
        if reply.status == 429:
            assert int(reply.header("Retry-After")) > 0
            assert "Too many attempts" in reply.text
    assert right.status == 429  # the right password waits out the limit too
    assert [reply.status for reply in others] == [429, 429]
    workers = set(re.findall(r'^<(\d+)> "POST /users/login', log, re.MULTILINE))
    assert len(workers) >= 2, (
        f"only worker(s) {workers} answered: not a multi-process test"
    )


def test_s24_production_refuses_per_process_limits_with_several_workers(
    database_uri, tmp_path
):
    """memory:// with 4 workers would give each its own count: gunicorn
    refuses to start and says why, unless told to count per process (then it
    says so loudly); one worker may count in its memory."""
    with (
        pytest.raises(AssertionError, match="RATELIMIT_STORAGE_URI is memory://"),
        gunicorn_store(
            database_uri,
            tmp_path,
            workers=4,
            extra_args=NO_CONTROL_SOCKET,
            boot_timeout=30,
            RATELIMIT_PER_PROCESS="",
        ),
    ):
        pass
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=2,
        extra_args=NO_CONTROL_SOCKET,
        RATELIMIT_PER_PROCESS="true",
    ) as server:
        assert server.browser().get("/healthz").status == 200
    assert "Counting per process, as asked." in server.log_text()
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=1,
        extra_args=NO_CONTROL_SOCKET,
        RATELIMIT_PER_PROCESS="",
    ) as server:
        assert server.browser().get("/healthz").status == 200


# --- no debugger, no weak key, no project files (SECURITY 34, 35) -------------------


def test_s34_gunicorn_serves_without_debug_and_refuses_a_missing_secret_key(
    production_server, database_uri, tmp_path
):
    reply = production_server.browser().get("/no-such-page")
    assert reply.status == 404
    for leak in ("Werkzeug Debugger", "Traceback", "__debugger__", "console"):
        assert leak not in reply.text
    assert production_server.browser().get(
        "/?__debugger__=yes&cmd=resource&f=style.css"
    ).status in (302, 404)
    for secret in ("", "too-short"):
        with (
            pytest.raises(AssertionError, match="SECRET_KEY"),
            gunicorn_store(
                database_uri,
                tmp_path,
                workers=1,
                extra_args=NO_CONTROL_SOCKET,
                boot_timeout=30,
                SECRET_KEY=secret,
            ),
        ):
            pass


def test_s35_project_files_are_never_served_by_gunicorn(production_server):
    browser = production_server.browser()
    for path in NEVER_SERVED:
        reply = browser.get(path)
        assert reply.status in (400, 404), path
        assert "SECRET_KEY" not in reply.text and "[core]" not in reply.text, path
    assert browser.get("/static/css/store.css").status == 200
