"""Email: every message is first a row of the outbox, written in the
transaction that caused it, and `flask outbox run` sends it (app/mail/).

The blueprint holds the admin's view of the outbox (/mail/...).
"""

from flask import Blueprint

bp = Blueprint("mail", __name__, url_prefix="/mail")
