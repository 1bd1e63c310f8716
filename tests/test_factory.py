"""The application factory, configuration, SQLite settings, error pages, headers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask_login import login_user

from app import create_app
from app.extensions import begin_write, db
from app.models import Item, User
from config import (
    DEV_SECRET_KEY,
    ROOT,
    Config,
    ProductionConfig,
    TestingConfig,
    config_for_environment,
    database_url,
)
from tests.helpers import count, run_python

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
        raise RuntimeError("secret-detail SELECT password_hash FROM users /srv/app.py")

    return failing


def test_an_unhandled_error_is_a_plain_500_page(app_with_a_failing_route):
    response = app_with_a_failing_route.test_client().get("/boom")
    assert response.status_code == 500
    html = assert_html(response)
    assert "Something went wrong" in html
    for leak in ("Traceback", "RuntimeError", "secret-detail", "SELECT", "/srv/"):
        assert leak not in html


def test_after_an_error_nothing_is_written_and_the_next_request_works(
    app_with_a_failing_route,
):
    client = app_with_a_failing_route.test_client()
    assert client.get("/boom").status_code == 500
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
