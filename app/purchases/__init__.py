"""The purchases blueprint."""

from flask import Blueprint

bp = Blueprint("purchases", __name__, url_prefix="/purchases")
