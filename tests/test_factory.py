"""The application factory, configuration, SQLite settings, error pages, headers;
and the security checks of every page, of a database that goes away, of debug
and of project files (SECURITY 19-21, 33-35; under gunicorn:
test_production_server.py)."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask_login import login_user

from app import create_app
from app.database import begin_write
from app.extensions import db
from app.models import Item, Order, User
from config import (
    DEV_SECRET_KEY,
    ROOT,
    Config,
    ProductionConfig,
    TestingConfig,
    config_for_environment,
    database_url,
)
from tests.helpers import (
    CROSS_ORIGIN,
    GOOD_ITEM,
    NEVER_SERVED,
    TEST_PASSWORD,
    add_to_cart,
    assert_plain_error_page,
    assert_security_headers,
    attributes,
    checkout,
    checkout_form,
    client_for,
    count,
    db_state,
    html_of,
    is_signed_in,
    password_hash,
    place_order,
    rules_of,
    run_python,
    stock_of,
    url_for_route,
    valid_csrf,
)

GOOD_SECRET = "k" * 40

# --- the factory ---------------------------------------------------------------


def test_create_app_registers_the_feature_blueprints(app):
    assert isinstance(app, Flask)
    assert {"items", "users", "purchases"} <= set(app.blueprints)
    prefixes = {bp.name: bp.url_prefix for bp in app.blueprints.values()}
    assert prefixes["items"] == "/items"
    assert prefixes["users"] == "/users"
    assert prefixes["purchases"] == "/purchases"


def test_create_app_binds_the_extensions(app):
    assert {"sqlalchemy", "migrate", "csrf", "limiter"} <= set(app.extensions)
    assert app.extensions["sqlalchemy"] is db
    assert app.login_manager.login_view == "users.login"
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    assert url == app.config["SQLALCHEMY_DATABASE_URI"]
    assert {"create-admin", "seed", "db"} <= set(app.cli.list_commands(None))


def test_testing_config_sets_testing(app):
    assert TestingConfig.TESTING is True
    assert app.testing is True
    assert app.config["WTF_CSRF_ENABLED"] is not False  # tests use real tokens
    assert not getattr(Config, "TESTING", False)


def test_testing_config_alone_gives_a_throwaway_database(tmp_path):
    if TestingConfig.SQLALCHEMY_DATABASE_URI != "sqlite://":
        pytest.skip("TEST_DATABASE_URL names the test database")
    from flask_migrate import upgrade

    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
        db.session.add(Item(name="Mug", price_cents=100))
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(Item.id))) == 1
        db.session.remove()
        db.engine.dispose()


def test_templates_and_static_live_at_the_project_root(app):
    assert Path(app.template_folder) == ROOT / "templates"
    assert Path(app.static_folder) == ROOT / "static"


# --- production refuses a weak SECRET_KEY --------------------------------------


def production_config(database_uri: str, secret: str | None) -> type[Config]:
    class Production(ProductionConfig):
        SECRET_KEY = secret
        SQLALCHEMY_DATABASE_URI = database_uri

    return Production


@pytest.mark.parametrize(
    "secret",
    [None, "", DEV_SECRET_KEY, "too-short", "x" * 31],
    ids=["missing", "empty", "default", "short", "31-chars"],
)
def test_production_refuses_to_start_without_a_real_secret_key(database_uri, secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(production_config(database_uri, secret))


def test_production_starts_with_a_long_secret_key(database_uri):
    app = create_app(production_config(database_uri, GOOD_SECRET))
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert app.debug is False
    assert app.testing is False
    with app.app_context():
        db.engine.dispose()


def skip_if_env_file_sets_secret_key() -> None:
    """config.py reads .env too: "unset" is only unset when .env has no key."""
    env_file = ROOT / ".env"
    if env_file.exists() and "SECRET_KEY" in env_file.read_text():
        pytest.skip(".env sets SECRET_KEY")


def test_wsgi_in_production_refuses_an_unset_secret_key(database_uri):
    skip_if_env_file_sets_secret_key()
    result = run_python(
        "import wsgi; print(wsgi.app.config['ENV_NAME'])",  # as gunicorn loads it
        unset=("SECRET_KEY",),
        STORE_ENV="production",
        DATABASE_URL=database_uri,
    )
    assert result.returncode != 0
    assert "RuntimeError" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_store_env_production_selects_the_production_config(monkeypatch):
    monkeypatch.setenv("STORE_ENV", "production")
    assert config_for_environment() is ProductionConfig
    monkeypatch.delenv("STORE_ENV")
    assert config_for_environment() is Config


# --- DATABASE_URL --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/store", "postgresql+psycopg://u:p@db:5432/store"),
        ("postgresql://u:p@db/store", "postgresql+psycopg://u:p@db/store"),
        ("postgresql+psycopg://u@db/store", "postgresql+psycopg://u@db/store"),
        ("sqlite:////srv/store.db", "sqlite:////srv/store.db"),
    ],
)
def test_database_url_uses_psycopg_for_postgresql(given, expected):
    assert database_url(given) == expected


@pytest.mark.parametrize("given", [None, ""])
def test_database_url_defaults_to_the_instance_sqlite_file(given):
    assert database_url(given) == f"sqlite:///{ROOT / 'instance' / 'store.db'}"


@pytest.mark.parametrize("given", [None, ""], ids=["unset", "empty"])
def test_development_falls_back_to_the_dev_secret_key(given):
    """An empty SECRET_KEY= must not leave sessions without a key (every page 500)."""
    env = {}
    if given is None:
        skip_if_env_file_sets_secret_key()
    else:
        env["SECRET_KEY"] = given
    result = run_python(
        "import config; print(config.Config.SECRET_KEY)", unset=("SECRET_KEY",), **env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DEV_SECRET_KEY


def test_importing_config_writes_nothing_to_disk(tmp_path):
    """wsgi.py imports config.py in every worker and every `flask` command."""
    result = run_python(
        "import config; config.TestingConfig",
        unset=("TEST_DATABASE_URL",),
        TMPDIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


# --- SQLite settings -------------------------------------------------------------


@pytest.fixture
def sqlite_only(engine_name):
    if engine_name != "sqlite":
        pytest.skip("SQLite connection settings")


def pragma(name: str):
    return db.session.execute(sa.text(f"PRAGMA {name}")).scalar()


def test_sqlite_connections_enforce_foreign_keys_and_wait_for_locks(
    app_context, sqlite_only
):
    assert pragma("foreign_keys") == 1
    assert pragma("journal_mode") == "wal"
    assert pragma("busy_timeout") > 0


def _try_to_take_the_write_lock() -> str:
    """From a second connection that waits at most 0.1 s: 'locked' or 'free'."""
    path = sa.engine.make_url(db.engine.url).database
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return "free"
    except sqlite3.OperationalError as error:
        assert "database is locked" in str(error)
        return "locked"
    finally:
        other.close()


def test_begin_write_takes_the_sqlite_write_lock_up_front(app_context, sqlite_only):
    begin_write()
    assert db.session.execute(sa.select(sa.func.count(Item.id))).scalar() == 0
    assert _try_to_take_the_write_lock() == "locked"
    db.session.rollback()
    assert _try_to_take_the_write_lock() == "free"


def test_an_ordinary_read_leaves_the_write_lock_free(app_context, sqlite_only):
    db.session.execute(sa.select(sa.func.count(Item.id))).scalar()
    assert db.session().in_transaction()
    assert _try_to_take_the_write_lock() == "free"


def test_begin_write_then_commit_writes(app_context, make_item):
    item_id = make_item(stock=3)
    begin_write()
    db.session.execute(
        sa.update(Item).where(Item.id == item_id).values(stock=Item.stock - 1)
    )
    db.session.commit()
    assert db.session.get(Item, item_id).stock == 2


# --- error pages -----------------------------------------------------------------


def assert_html(response) -> str:
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_unknown_page_is_a_helpful_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = assert_html(response)
    assert "Page not found" in html
    assert "404" in html
    assert 'href="/items/"' in html  # a way back to the catalogue


def test_404_page_never_echoes_the_path_unescaped(client):
    response = client.get("/<script>alert(1)</script>")
    assert response.status_code == 404
    html = assert_html(response)
    assert "<script>" not in html
    assert "alert(1)" not in html


def test_get_on_a_post_only_route_is_405(client):
    response = client.get("/users/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    html = assert_html(response)
    assert "Method not allowed" in html
    assert 'href="/items/"' in html


@pytest.fixture
def app_with_a_failing_route(app, make_app):
    """An app whose /boom adds a row, then fails with a revealing message."""
    failing = make_app()

    @failing.get("/boom")
    def boom():
        db.session.add(Item(name="Half-written", price_cents=1, stock=1))
        db.session.flush()
        raise RuntimeError(
            f"secret-detail SELECT password_hash FROM users /srv/app.py {ROOT}/app.py"
        )

    return failing


def test_s33_an_unhandled_error_is_a_plain_500_and_nothing_is_written(
    app_with_a_failing_route,
):
    client = app_with_a_failing_route.test_client()
    response = client.get("/boom")
    assert_plain_error_page(response, 500)  # no traceback, SQL or project path
    html = assert_html(response)
    assert "Something went wrong" in html
    for leak in ("Traceback", "RuntimeError", "secret", "SELECT", "/srv/"):
        assert leak not in html
    # The half-written row is gone, and the next requests work.
    assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    assert count(app_with_a_failing_route, Item) == 0


# --- health check -----------------------------------------------------------------


def test_healthz_is_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "up"}


@pytest.mark.parametrize("where", ["closed-port", "sqlite-unopenable"])
def test_healthz_is_503_when_the_database_is_unreachable(make_app, tmp_path, where):
    url = {
        "closed-port": "postgresql+psycopg://postgres@127.0.0.1:1/store",
        # A directory is not a database file: SQLite cannot open it.
        "sqlite-unopenable": f"sqlite:///{tmp_path}",
    }[where]
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "down"


# --- security headers and cookies ---------------------------------------------------


@pytest.fixture
def html_responses(make_app):
    """One of each kind of foundation HTML page: 200, 404, 405 and 500."""
    app = make_app()

    @app.get("/probe-page")
    def probe_page():
        return "<!doctype html><title>probe</title><p>ok</p>"

    @app.get("/probe-error")
    def probe_error():
        raise RuntimeError("probe")

    client = app.test_client()
    return {
        url: client.get(url)
        for url in ("/probe-page", "/no-such-page", "/users/logout", "/probe-error")
    }


def test_every_html_response_carries_the_security_headers(html_responses):
    for url, response in html_responses.items():
        headers = response.headers
        assert response.mimetype == "text/html", url
        assert headers["Content-Type"] == "text/html; charset=utf-8", url
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["X-Frame-Options"] == "DENY", url
        assert headers["Referrer-Policy"], url
        csp = headers["Content-Security-Policy"]
        directives = {
            part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()
        }
        assert directives["default-src"] == ["'self'"], url
        assert "'unsafe-inline'" not in csp, url
        assert "'unsafe-eval'" not in csp, url
        assert directives["frame-ancestors"] == ["'none'"], url
        assert "Strict-Transport-Security" not in headers, url  # development


def test_json_responses_carry_nosniff_too(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def production_client(database_uri, make_user):
    """A production app on the test database with a route that signs a user in."""
    user_id = make_user()
    app = create_app(production_config(database_uri, GOOD_SECRET))

    @app.get("/probe-sign-in")
    def probe_sign_in():
        session["probe"] = True
        login_user(db.session.get(User, user_id), remember=True)
        return "<!doctype html><title>signed in</title>"

    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def test_production_adds_hsts(production_client):
    response = production_client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    max_age = response.headers["Strict-Transport-Security"].split(";")[0]
    assert int(max_age.removeprefix("max-age=")) >= 31536000


def test_production_cookies_are_secure_httponly_and_lax(production_client):
    response = production_client.get("/probe-sign-in")
    assert response.status_code == 200
    cookies = {
        header.split("=", 1)[0]: header
        for header in response.headers.getlist("Set-Cookie")
    }
    assert {"session", "remember_token"} <= set(cookies)
    for name in ("session", "remember_token"):
        flags = [flag.strip().lower() for flag in cookies[name].split(";")]
        assert "secure" in flags, name
        assert "httponly" in flags, name
        assert "samesite=lax" in flags, name


def test_development_cookies_are_httponly_and_lax_but_not_secure(make_app, make_user):
    user_id = make_user()
    app = make_app()

    @app.get("/probe-sign-in")
    def probe_sign_in():
        login_user(db.session.get(User, user_id), remember=True)
        return "ok"

    response = app.test_client().get("/probe-sign-in")
    headers = response.headers.getlist("Set-Cookie")
    assert len(headers) == 2
    for header in headers:
        flags = [flag.strip().lower() for flag in header.split(";")]
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "secure" not in flags


# --- every page's headers, CORS, hosts, upload size (SECURITY 19-21) ----------------


def test_s19_every_html_page_carries_the_security_headers(app, store):
    admin = client_for(app, "admin@example.com")
    seen = 0
    for rule in rules_of(app):
        if "GET" not in rule.methods or rule.endpoint in ("static", "main.healthz"):
            continue
        url = url_for_route(app, rule, store)
        response = admin.get(url)
        if response.mimetype != "text/html":
            assert response.headers["X-Content-Type-Options"] == "nosniff", url
            continue
        assert_security_headers(response.headers, url)
        seen += 1
    assert seen >= 10
    # Error pages and the pages of anonymous visitors too.
    anonymous = app.test_client()
    for url, status in (
        ("/no-such-page", 404),
        ("/users/logout", 405),
        ("/users/login", 200),
    ):
        response = anonymous.get(url)
        assert response.status_code == status
        assert_security_headers(response.headers, url)
    # No inline scripts, so the CSP can forbid them: pages carry no <script> body.
    for url in ("/items/", "/users/login", "/purchases/cart"):
        html = html_of(anonymous.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not [a for a in attributes(html) if a[1].startswith("on")], url


def test_s20_no_hsts_in_development(app):
    assert "Strict-Transport-Security" not in app.test_client().get("/items/").headers


def test_s21_cross_origin_requests_get_no_cors_headers(app, store):
    client = client_for(app, "sam@example.com")
    for method, url in (
        ("GET", "/items/"),
        ("GET", "/purchases/"),
        ("OPTIONS", "/purchases/checkout"),
        ("OPTIONS", "/users/login"),
        ("GET", "/healthz"),
    ):
        response = client.open(url, method=method, headers=CROSS_ORIGIN)
        assert "Access-Control-Allow-Origin" not in response.headers, url
        assert "Access-Control-Allow-Credentials" not in response.headers, url


def test_trusted_hosts_refuse_a_foreign_host_header(make_app):
    """The 400 page for a foreign host is drawn without the layout (no URL can
    be built for that host), and still carries the security headers."""
    strict = make_app(TRUSTED_HOSTS=["shop.example", ".shop.example"], TESTING=False)
    client = strict.test_client()
    for host in ("evil.example", "shop.example.evil.example", "evil.example:443"):
        response = client.get("/items/", headers={"Host": host})
        html = assert_plain_error_page(response, 400)
        assert "Bad request" in html and "evil" not in html, host
        assert_security_headers(response.headers, host)
    for host in ("shop.example", "www.shop.example", "shop.example:8443"):
        assert client.get("/items/", headers={"Host": host}).status_code == 200, host


def test_an_oversized_upload_is_a_413_page(app, store):
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    response = admin.post(
        "/items/new",
        data={
            "csrf_token": valid_csrf(admin),
            **GOOD_ITEM,
            "description": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
        },
    )
    html = assert_plain_error_page(response, 413)
    assert "Upload too large" in html
    assert db_state(app) == before


# --- the database goes away, debug stays off, files stay private (SECURITY 33-35) ---


class Outage:
    """Take the store's database away and give it back.

    PostgreSQL: the database refuses new connections and its open ones are
    ended (as when the server restarts or fails over). SQLite: the file's
    folder goes away, so no connection can open it, and the pool's open
    connections are closed (as when a disk or mount disappears).
    """

    def __init__(self, url: str, app: Flask) -> None:
        self.url = sa.engine.make_url(url)
        self.app = app

    def _postgres(self, sql: str) -> None:
        server = database_url(os.environ["TEST_DATABASE_URL"])
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(sql)
        admin.dispose()

    def start(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            name = self.url.database
            self._postgres(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            self._postgres(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
        else:
            folder = Path(self.url.database).parent
            folder.rename(folder.with_name("away"))
            folder.write_text("not a folder")  # nor can SQLite create one here
            with self.app.app_context():
                db.engine.dispose()

    def end(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            self._postgres(
                f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS true'
            )
        else:
            folder = Path(self.url.database).parent
            folder.unlink()
            folder.with_name("away").rename(folder)


def add_sam_and_a_lamp(app: Flask) -> int:
    """Sam (who signs in with TEST_PASSWORD) and a lamp, three in stock; its id."""
    with app.app_context():
        db.session.add(
            User(
                name="Sam",
                email="sam@example.com",
                password_hash=password_hash(TEST_PASSWORD),
            )
        )
        lamp = Item(name="Lamp", price_cents=100, stock=3)
        db.session.add(lamp)
        db.session.commit()
        return lamp.id


def test_s33_database_outage_gives_503_pages_then_recovers(
    fresh_store, fresh_database_url
):
    url = fresh_database_url
    app = fresh_store(TESTING=False)
    lamp = add_sam_and_a_lamp(app)
    with app.app_context():
        db.session.add(
            User(
                name="Ada",
                email="ada@example.com",
                password_hash=password_hash(TEST_PASSWORD),
                is_admin=True,
            )
        )
        db.session.commit()
    anonymous = app.test_client()
    shopper = client_for(app, "sam@example.com")
    admin = client_for(app, "ada@example.com")
    number = place_order(shopper, {lamp: 1})
    order_page = f"/purchases/orders/{number}"
    cancel = {"csrf_token": valid_csrf(shopper)}
    move = {"csrf_token": valid_csrf(admin), "status": "paid"}
    assert add_to_cart(shopper, lamp).status_code == 302
    form = checkout_form(shopper)
    outage = Outage(url, app)
    outage.start()
    try:
        for client, method, path, data in (
            (anonymous, "GET", "/items/", None),
            (anonymous, "GET", f"/items/{lamp}", None),
            (shopper, "GET", "/purchases/", None),
            (shopper, "GET", "/items/", None),
            (shopper, "POST", "/purchases/checkout", form),
            (shopper, "GET", order_page, None),
            (shopper, "POST", f"{order_page}/cancel", cancel),
            (admin, "GET", "/purchases/orders/", None),
            (admin, "GET", "/purchases/settings", None),
            (admin, "POST", f"{order_page}/status", move),
        ):
            response = client.open(path, method=method, data=data)
            html = assert_plain_error_page(response, 503)
            assert "Temporarily unavailable" in html, path
            assert "nothing was changed" in html, path
            assert response.headers["Retry-After"] == "5", path
            for secret in (
                url,
                sa.engine.make_url(url).database,
                "OperationalError",
            ):
                assert secret not in html
        health = anonymous.get("/healthz")
        assert health.status_code == 503
        assert health.json == {"status": "unavailable", "database": "down"}
    finally:
        outage.end()
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/items/").status_code == 200
    assert is_signed_in(shopper)  # the session outlived the outage
    with app.app_context():  # neither the cancel nor the move got through
        assert db.session.scalar(sa.select(Order.status)) == "pending_payment"
    assert checkout(shopper).headers["Location"].startswith("/purchases/orders/")
    assert stock_of(app, lamp) == 1


def test_s33_a_failing_statement_rolls_back_and_the_next_request_works(
    fresh_store, fresh_database_url
):
    """One pooled connection only: the request after the failure reuses it, so a
    transaction left open (or aborted, on PostgreSQL) would fail it."""
    options = {"pool_pre_ping": True, "pool_size": 1, "max_overflow": 0}
    url = fresh_database_url
    app = fresh_store(TESTING=False, SQLALCHEMY_ENGINE_OPTIONS=options)
    lamp = add_sam_and_a_lamp(app)
    shopper = client_for(app, "sam@example.com")
    assert add_to_cart(shopper, lamp).status_code == 302
    form = checkout_form(shopper)
    other = sa.create_engine(url)

    def rename(old: str, new: str) -> None:
        with other.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    # A read fails: the catalogue's table is gone.
    rename("items", "items_away")
    try:
        html = assert_plain_error_page(shopper.get("/items/"), 500)
        assert "items_away" not in html
    finally:
        rename("items_away", "items")
    assert shopper.get("/items/").status_code == 200  # the same connection

    # A write fails half-way: the checkout takes stock, then its INSERT fails.
    rename("user_items", "user_items_away")
    try:
        response = shopper.post("/purchases/checkout", data=form)
        if response.status_code == 503:
            # SQLite calls a missing table an OperationalError, which the
            # checkout answers like a lock timeout: the checkout page again,
            # nothing bought, try again.
            html = assert_plain_error_page(response, 503)
            assert "nothing was bought" in html
            assert "user_items" not in html and "INSERT" not in html
        else:
            html = assert_plain_error_page(response, 500)
            assert "user_items" not in html and "INSERT" not in html
        # The one pooled connection is usable: no transaction left open or
        # aborted (the catalogue itself reads user_items, so ask /healthz).
        assert shopper.get("/healthz").status_code == 200
    finally:
        rename("user_items_away", "user_items")
        other.dispose()
    assert stock_of(app, lamp) == 3  # rolled back
    assert count(app, Order) == 0
    assert checkout(shopper).headers["Location"].startswith("/purchases/orders/")


def test_s34_production_runs_without_debug_even_if_flask_debug_is_set(database_uri):
    production = {
        "STORE_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "DATABASE_URL": database_uri,
    }
    # FLASK_DEBUG=1 (from a shell or a .env) would turn Flask's debug on.
    result = run_python(
        "import wsgi; print(wsgi.app.debug, wsgi.app.testing)",
        unset=("FLASK_DEBUG", "SECRET_KEY"),
        **production,
        FLASK_DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_s35_project_files_are_never_served(app):
    client = app.test_client()
    for path in NEVER_SERVED:
        response = client.get(path)
        assert response.status_code == 404, path
        body = html_of(response)
        assert "SECRET_KEY" not in body and "[core]" not in body, path
    assert client.get("/static/css/store.css").status_code == 200
