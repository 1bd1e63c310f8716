"""The links in account emails: signed, expiring, single-use.

A token is the user's id, what it is for (and the new address, for an email
change) and a fingerprint of the account's state, signed with SECRET_KEY
and timed (itsdangerous). The fingerprint covers the password hash, the
session token and the email, so the token stops working as soon as it is
used (each use changes one of them), when the password changes or the user
signs out everywhere, and after its lifetime. Tokens use only URL-safe
characters (A–Z a–z 0–9 . _ -).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.extensions import db
from app.models import User

RESET = "password-reset"
EMAIL_CHANGE = "email-change"
MINUTES_SETTING = {
    RESET: "PASSWORD_RESET_MINUTES",
    EMAIL_CHANGE: "EMAIL_CHANGE_MINUTES",
}
TOKEN_MAX = 400  # longer is not one of ours


class TokenProblem(Exception):
    """Why a link does not work: 'expired', 'used' or 'invalid'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Checked:
    user: User
    new_email: str | None
    issued: str  # the token's own fingerprint: names the email it came in


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"store.{purpose}")


def fingerprint(user: User, purpose: str) -> str:
    """Changes whenever the password, the sessions or the email change."""
    state = (
        f"{purpose}|{user.id}|{user.password_hash}|{user.session_token}|{user.email}"
    )
    key = current_app.secret_key.encode()
    return hmac.new(key, state.encode(), hashlib.sha256).hexdigest()[:32]


def make(purpose: str, user: User, new_email: str | None = None) -> str:
    data = {"u": user.id, "f": fingerprint(user, purpose)}
    if new_email is not None:
        data["e"] = new_email
    return _serializer(purpose).dumps(data)


def check(purpose: str, token: str) -> Checked:
    """The user a link acts for, or TokenProblem saying why it does not work."""
    if not token or len(token) > TOKEN_MAX:
        raise TokenProblem("invalid")
    minutes = current_app.config[MINUTES_SETTING[purpose]]
    try:
        data = _serializer(purpose).loads(token, max_age=minutes * 60)
    except SignatureExpired:
        raise TokenProblem("expired") from None
    except BadSignature:
        raise TokenProblem("invalid") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("u"), int)
        or not isinstance(data.get("f"), str)
        or not isinstance(data.get("e", ""), str)
    ):
        raise TokenProblem("invalid")
    user = db.session.scalar(sa.select(User).where(User.id == data["u"]))
    if user is None or user.is_deleted or not user.is_enabled:
        raise TokenProblem("invalid")
    if not hmac.compare_digest(data["f"], fingerprint(user, purpose)):
        raise TokenProblem("used")
    return Checked(user=user, new_email=data.get("e"), issued=data["f"])
