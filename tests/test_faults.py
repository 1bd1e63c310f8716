"""Faults cost seconds, not outages (SECURITY 45, 46): a database that does
not answer, a full connection pool, a Redis that does not answer, a value
planted in the cache's Redis, and a row lock held elsewhere while many
shoppers check out on gunicorn. Each test measures what the fault costs and
what users see meanwhile; /healthz keeps answering throughout.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Order
from tests.helpers import (
    add_to_cart,
    checkout_fields,
    checkout_form,
    checkout_state,
    client_for,
    html_of,
    post_form,
    redis_or_skip,
    silent_server,
    stock_of,
    timed,
)

# What one fault may cost a request, in seconds, with the default settings
# (connect 3 s, lock 1 s per lock waited for, pool 3 s, Redis 0.5 s), plus
# room for a loaded machine.
DATABASE_SILENT_BUDGET = 6
POOL_BUDGET = 3
REDIS_SILENT_BUDGET = 2.5
UNAVAILABLE = "Temporarily unavailable"


def _silent_database_url(port: int) -> str:
    return f"postgresql+psycopg://store@127.0.0.1:{port}/store"


def test_s45_a_database_that_never_answers_costs_seconds_and_a_503(make_app):
    """A server that accepts the connection and never says a word: every page
    gives up after the connect timeout with the plain 503 page, and the
    health checks say so within the same time; the liveness check needs no
    database at all."""
    with silent_server() as port:
        app = make_app(SQLALCHEMY_DATABASE_URI=_silent_database_url(port))
        client = app.test_client()
        for url in ("/items/", "/items/1", "/items/?q=lamp"):
            with timed() as seconds:
                response = client.get(url)
            assert response.status_code == 503, url
            assert UNAVAILABLE in html_of(response)
            assert response.headers["Retry-After"] == "5"
            assert seconds[0] < DATABASE_SILENT_BUDGET, (url, seconds)
            print(f"{url}: 503 after {seconds[0]:.1f} s")
        for url in ("/healthz", "/healthz/ready"):
            with timed() as seconds:
                health = client.get(url)
            assert health.status_code == 503
            assert health.json["database"] == "down"
            assert seconds[0] < DATABASE_SILENT_BUDGET, (url, seconds)
        with timed() as seconds:
            assert client.get("/healthz/live").status_code == 200
        assert seconds[0] < 0.5


def test_s45_a_full_connection_pool_costs_seconds_and_a_503(make_app, store):
    """Every pooled connection taken: a request waits the pool timeout, gets
    the 503 page and writes nothing; once one is free, pages answer again."""
    app = make_app(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0},
        DATABASE_POOL_TIMEOUT=1,
    )
    shopper = client_for(app, "sam@example.com")
    assert add_to_cart(shopper, store["lamp"]).status_code == 302
    form = checkout_form(shopper)
    before = checkout_state(app)
    with app.app_context():
        held = db.engine.connect()  # the pool's only connection
        try:
            for method, url, data in (
                ("GET", "/items/", None),
                ("POST", "/purchases/checkout", form),
                ("GET", "/healthz", None),
            ):
                with timed() as seconds:
                    response = shopper.open(url, method=method, data=data)
                assert response.status_code == 503, url
                assert seconds[0] < POOL_BUDGET, (url, seconds)
                print(f"{method} {url}: 503 after {seconds[0]:.1f} s")
        finally:
            held.close()
    assert checkout_state(app) == before
    assert shopper.get("/items/").status_code == 200
    assert shopper.post("/purchases/checkout", data=form).status_code == 302


def test_s45_a_redis_that_never_answers_costs_one_short_wait_not_every_page(
    make_app, store
):
    """The cache and the limiter both on a Redis that accepts and never
    answers: the first page waits the short Redis timeout, then the breaker
    skips the cache and the limiter counts in memory, so later pages and
    sign-ins cost nothing extra, and throttling still holds."""
    with silent_server() as port:
        silent = f"redis://127.0.0.1:{port}/0"
        app = make_app(
            CACHE_TYPE="RedisCache",
            CACHE_REDIS_URL=silent,
            RATELIMIT_STORAGE_URI=silent,
            POPULAR_CACHE_SECONDS=30,
            ALSO_BOUGHT_CACHE_SECONDS=30,
            SEARCH_COUNT_CACHE_SECONDS=30,
            LOGIN_RATE_LIMIT="5 per minute",
        )
        client = app.test_client()
        costs = []
        for url in ("/items/", "/items/", f"/items/{store['lamp']}", "/items/?q=l"):
            with timed() as seconds:
                assert client.get(url).status_code == 200, url
            costs.append(seconds[0])
        sign_ins = []
        for _ in range(7):
            with timed() as seconds:
                response = post_form(
                    app.test_client(),
                    "/users/login",
                    {"email": "sam@example.com", "password": "wrong-password"},
                )
            sign_ins.append((response.status_code, seconds[0]))
    print(f"pages: {[round(c, 2) for c in costs]} s; sign-ins: {sign_ins}")
    assert costs[0] < REDIS_SILENT_BUDGET
    assert max(costs[1:]) < 1, costs  # the breaker is open: no wait at all
    assert all(seconds < REDIS_SILENT_BUDGET for _, seconds in sign_ins)
    assert [status for status, _ in sign_ins] == [422] * 5 + [429] * 2


class _Planted:
    """What an attacker with write access to Redis would plant: a pickle
    that runs code when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_s46_a_value_planted_in_the_cache_is_a_miss_never_code(
    make_app, store, tmp_path
):
    """A pickle planted under the "Popular" block's key in the cache's Redis:
    the catalogue draws the block from the database, nothing runs, and the
    key then holds JSON."""
    url = "redis://127.0.0.1:6379/0"
    connection = redis_or_skip(url)
    prefix = f"store-test-{os.getpid()}-{time.monotonic_ns()}:"
    marker = tmp_path / "the-planted-value-ran"
    app = make_app(
        CACHE_TYPE="RedisCache",
        CACHE_REDIS_URL=url,
        CACHE_KEY_PREFIX=prefix,
        POPULAR_CACHE_SECONDS=30,
    )
    key = f"{prefix}popular-ids:6"
    # The very bytes Flask-Caching's own (pickling) Redis cache writes.
    connection.set(key, b"!" + pickle.dumps(_Planted(marker)))
    try:
        response = app.test_client().get("/items/")
        assert response.status_code == 200
        assert not marker.exists()
        kept = connection.get(key)
        assert kept is not None and not kept.startswith(b"!")
        assert kept.startswith(b"[")  # JSON rows
    finally:
        for leftover in connection.scan_iter(f"{prefix}*"):
            connection.delete(leftover)
    # The payload is real: unpickled, it does run.
    pickle.loads(pickle.dumps(_Planted(marker)))
    assert marker.exists()


# --- a held row lock, twelve shoppers, gunicorn ------------------------------------

SHOPPERS = 12


def _hold_the_row_lock(database_url: str, item_id: int):
    """Lock the item's row (PostgreSQL) or the whole database for writing
    (SQLite) from outside the store, as a long admin transaction or a stuck
    psql session would; returns what releases it."""
    engine = sa.create_engine(database_url)
    # SQLite: the store's engine events start the transaction as a writer.
    connection = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    connection.execute(
        sa.text("SELECT id FROM items WHERE id = :id FOR UPDATE")
        if engine.dialect.name == "postgresql"
        else sa.text("SELECT id FROM items WHERE id = :id"),
        {"id": item_id},
    )

    def release() -> None:
        connection.rollback()
        connection.close()
        engine.dispose()

    return release


@pytest.mark.slow
def test_s45_a_held_row_lock_costs_seconds_while_the_store_answers(
    app, database_uri, make_item, make_users, tmp_path
):
    """Twelve shoppers check out the one locked item on 2 workers x 2
    threads: each gets the checkout page back (503, nothing bought) within a
    few seconds, and /healthz, the catalogue and a static file answer all
    along. Released, the next checkout buys."""
    from tests.test_production_server import (
        NO_CONTROL_SOCKET,
        _prepare_buyer,
        gunicorn_store,
    )

    lamp = make_item(name="Locked Lamp", price_cents=1000, stock=50)
    buyers = make_users(SHOPPERS)
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=2,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        LOGIN_RATE_LIMIT="1000 per minute",
        ACCOUNT_RATE_LIMIT="1000 per minute",
    ) as server:
        prepared = [_prepare_buyer(server, email, lamp) for _, email in buyers]
        before = checkout_state(app)
        release = _hold_the_row_lock(database_uri, lamp)
        probes: list[tuple[str, int, float]] = []
        done = threading.Event()

        def probe() -> None:
            browser = server.browser()
            while not done.is_set():
                for url in ("/healthz", "/items/", "/static/css/store.css"):
                    with timed() as seconds:
                        status = browser.get(url, timeout=30).status
                    probes.append((url, status, seconds[0]))
                time.sleep(0.2)

        def buy(index: int):
            browser, form = prepared[index]
            with timed() as seconds:
                reply = browser.post("/purchases/checkout", form, timeout=60)
            return reply, seconds[0]

        prober = threading.Thread(target=probe)
        try:
            prober.start()
            with timed() as total, ThreadPoolExecutor(SHOPPERS) as pool:
                answers = list(pool.map(buy, range(SHOPPERS)))
            done.set()
            prober.join(timeout=60)
        finally:
            release()
        after = checkout_state(app)
        browser = prepared[0][0]
        fresh = browser.get("/purchases/checkout")
        bought = browser.post("/purchases/checkout", checkout_fields(fresh.text))

    costs = sorted(seconds for _, seconds in answers)
    slow = [p for p in probes if p[2] > 1]
    print(f"probes over 1 s: {slow}")
    worst_probe = max(seconds for _, _, seconds in probes)
    print(
        f"{SHOPPERS} checkouts on a held lock: {costs[0]:.1f}-{costs[-1]:.1f} s each,"
        f" {total[0]:.1f} s in all; {len(probes)} probes, slowest {worst_probe:.1f} s"
    )
    for reply, _ in answers:
        assert reply.status == 503, reply.text[:500]
        # The checkout page's own "nothing was bought", or the plain page's
        # "nothing was changed" for a POST that found every write slot taken.
        assert "nothing was" in reply.text, reply.text[:500]
    assert after == before  # nothing bought, stock untouched
    engine_budget = 6 if "postgresql" in database_uri else 8
    assert costs[-1] < engine_budget * 3, costs  # 12 shoppers on 4 threads
    assert probes and all(status == 200 for _, status, _ in probes), probes
    assert worst_probe < engine_budget, probes
    assert bought.status == 302, bought.text[:500]
    assert stock_of(app, lamp) == 49
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 1
