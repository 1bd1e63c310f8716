"""The audit trail: who changed which item or user, when, and what changed."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")
