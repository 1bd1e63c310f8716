"""The items blueprint."""

from flask import Blueprint

bp = Blueprint("items", __name__, url_prefix="/items")

from app.items import admin, routes, transfer  # noqa: E402, F401
