"""The items blueprint."""

from flask import Blueprint

bp = Blueprint("items", __name__, url_prefix="/items")
