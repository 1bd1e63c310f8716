"""The application factory: configuration, extensions, blueprints, error pages."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import IntegerConverter

from app.limits import MAX_ID
from config import DEV_SECRET_KEY, Config

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_class: type[Config] = Config) -> Flask:
    """Build the store: one app object per process, stateless between requests."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    # <int:...> in every route stops at the largest id: a bigger number is a 404,
    # not a database error.
    app.url_map.converters["int"] = IdConverter
    # A path with doubled slashes (/purchases/orders/%2F%2Fx/refund) is no
    # page of the store: a 404, not a redirect to some other one.
    app.url_map.merge_slashes = False
    app.config.from_object(config_class)
    _refuse_insecure_production(app)
    _ensure_sqlite_folder(app)

    # Engine settings (SQLite pragmas, PostgreSQL UTC) hook into SQLAlchemy on import.
    from app import (
        auth,
        caching,
        database,
        errors,
        observability,
        page_cache,
        resilience,
        security,
        static_files,
        templating,
    )
    from app.extensions import (
        cache,
        compress,
        csrf,
        db,
        limiter,
        login_manager,
        migrate,
    )
    from app.mail import delivery

    observability.init_app(app)  # first: the request id for all that follows
    page_cache.init_app(app)  # kept pages next, before the limiter's hook
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(app)
    db.init_app(app)
    resilience.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), compare_type=True)
    csrf.init_app(app)
    caching.init_app(app)  # Redis settings, before the limiter and cache read them
    limiter.init_app(app)
    cache.init_app(app)
    compress.init_app(app)
    login_manager.init_app(app)
    delivery.init_app(app)
    auth.init_app(app)
    static_files.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    _register_blueprints(app)

    from app import cli

    cli.init_app(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Each feature's views, imported here where the app is assembled: a
    feature package's __init__ holds only its blueprint, so importing one
    module never drags in every view (nor an import cycle)."""
    from app import main
    from app.audit import bp as audit_bp
    from app.audit import routes as audit_routes  # noqa: F401
    from app.items import admin as items_admin  # noqa: F401
    from app.items import bp as items_bp
    from app.items import categories as items_categories  # noqa: F401
    from app.items import images as items_images  # noqa: F401
    from app.items import reviews as items_reviews  # noqa: F401
    from app.items import routes as items_routes  # noqa: F401
    from app.items import transfer as items_transfer  # noqa: F401
    from app.mail import bp as mail_bp
    from app.mail import routes as mail_routes  # noqa: F401
    from app.media import bp as media_bp
    from app.media import routes as media_routes  # noqa: F401
    from app.pages import bp as pages_bp
    from app.pages import routes as pages_routes  # noqa: F401
    from app.purchases import admin as purchases_admin  # noqa: F401
    from app.purchases import bp as purchases_bp
    from app.purchases import checkout as purchases_checkout  # noqa: F401
    from app.purchases import orders as purchases_orders  # noqa: F401
    from app.purchases import payments as purchases_payments  # noqa: F401
    from app.purchases import routes as purchases_routes  # noqa: F401
    from app.purchases import settings as purchases_settings  # noqa: F401
    from app.users import account as users_account  # noqa: F401
    from app.users import admin as users_admin  # noqa: F401
    from app.users import bp as users_bp
    from app.users import routes as users_routes  # noqa: F401
    from app.users import wishlist as users_wishlist  # noqa: F401

    for bp in (
        items_bp,
        users_bp,
        purchases_bp,
        audit_bp,
        mail_bp,
        media_bp,
        pages_bp,
        main.bp,
    ):
        app.register_blueprint(bp)


class IdConverter(IntegerConverter):
    """Werkzeug's int converter, bounded by the id columns' width by default."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _refuse_insecure_production(app: Flask) -> None:
    secret = app.config.get("SECRET_KEY")
    if app.config["ENV_NAME"] == "production" and (
        not secret or secret == DEV_SECRET_KEY or len(secret) < 32
    ):
        raise RuntimeError(
            "Refusing to start in production without a real SECRET_KEY "
            "(set SECRET_KEY to at least 32 random characters)."
        )


def _ensure_sqlite_folder(app: Flask) -> None:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if (
        url.get_backend_name() == "sqlite"
        and url.database
        and url.database != ":memory:"
    ):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
