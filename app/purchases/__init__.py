"""The purchases blueprint."""

from flask import Blueprint

bp = Blueprint("purchases", __name__, url_prefix="/purchases")

from app.purchases import admin, routes  # noqa: E402, F401
