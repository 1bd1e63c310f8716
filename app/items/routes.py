"""Catalogue and item pages (/items/...)."""

from flask import render_template

from app.items import bp


@bp.get("/")
def index():
    """The catalogue."""
    return render_template("items/index.html")
