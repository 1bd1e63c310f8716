"""Routes that belong to no feature: the front page and the health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, url_for

from app.extensions import db

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """The front page is the catalogue."""
    return redirect(url_for("items.index"))


@bp.get("/healthz")
def healthz():
    """200 when the database answers a trivial query, 503 when it does not."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": "down"}, 503
    return {"status": "ok", "database": "up"}
