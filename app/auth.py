"""Who may do what: the login loader and the `admin_required` guard."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import sqlalchemy as sa
from flask import Flask, abort
from flask_login import current_user, login_required

from app.extensions import db, login_manager
from app.limits import MAX_ID
from app.models import User
from app.numbers import whole_number_or_none


def init_app(app: Flask) -> None:
    login_manager.login_view = "users.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """Accept a cookie only while its session token is the user's current one."""
    text, _, token = identity.partition(":")
    user_id = whole_number_or_none(text)
    if user_id is None or user_id > MAX_ID or not token:
        return None
    return db.session.scalar(
        sa.select(User).where(User.id == user_id, User.session_token == token)
    )


def admin_required(view: Callable) -> Callable:
    """Anonymous visitors go to the login page; signed-in non-admins get 403."""

    @login_required
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def may_see_user(user_id: int) -> bool:
    """A profile or history is visible to its owner and to admins."""
    return current_user.is_authenticated and (
        current_user.is_admin or current_user.id == user_id
    )
