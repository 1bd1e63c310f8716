"""The limits on guessing: one budget per client address for signing in,
signing up and asking for a reset together, and one per account.

Both are counted in the limiter's storage (RATELIMIT_STORAGE_URI: each
process's memory, or Redis shared by every process and host). Sharing one
budget per address means sign-up, which must say when an email is taken
(a new shopper is signed straight in), gives an attacker no guesses beyond
sign-in's. The per-account budget, keyed by the email typed (or the
signed-in account), holds however many addresses the guesses come from.
Only POSTs count; drawing the forms is free.
"""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from app.extensions import limiter
from app.forms import without_control_characters
from app.limits import EMAIL_MAX


def _address_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["ACCOUNT_RATE_LIMIT"]


def account_key() -> str:
    """The account a POST is about: the signed-in user on their own account
    pages, else the email typed (as sign-in would look it up)."""
    if current_user.is_authenticated and request.endpoint in SIGNED_IN_ENDPOINTS:
        return f"account:{current_user.email}"
    typed = without_control_characters(request.form.get("email", "")) or ""
    return "account:" + typed.lower()[:EMAIL_MAX]


# The account pages where the signed-in user's own password is typed.
SIGNED_IN_ENDPOINTS = ("users.account", "users.delete_account")

per_address = limiter.shared_limit(_address_limit, scope="auth", methods=["POST"])
per_account = limiter.shared_limit(
    _account_limit, scope="account", key_func=account_key, methods=["POST"]
)
