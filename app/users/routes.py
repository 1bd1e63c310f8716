"""Accounts (/users/...): sign up, sign in, sign out, profile.

Password resets and the account's settings are in app/users/account.py.
"""

from __future__ import annotations

import secrets
from functools import cache
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth import may_see_user
from app.extensions import db
from app.mail import messages
from app.models import Item, User, UserItem, utcnow
from app.pagination import page_arg, paginate_rows
from app.users import bp, throttle
from app.users.forms import LoginForm, RegisterForm

PROFILE_ITEMS_PER_PAGE = 24


@cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so both login failures take as long."""
    return generate_password_hash(secrets.token_hex(16))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    target = target.strip()
    if any(ord(ch) < 32 for ch in target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return None
    return target


def start_session(user: User, remember: bool) -> None:
    """Sign in with a fresh session, carrying over only the cart."""
    kept = {key: session[key] for key in ("cart", "checkout_token") if key in session}
    session.clear()
    login_user(user, remember=remember)
    session.update(kept)


TAKEN_EMAIL = (
    "This email already has an account: sign in, or reset your password "
    "if you have forgotten it."
)


@bp.route("/register", methods=["GET", "POST"])
@throttle.per_address
@throttle.per_account
def register():
    """Sign up, then land signed in. A taken email is told only to sign in or
    reset its password, and its owner gets an email saying so."""
    if current_user.is_authenticated:
        return redirect(url_for("items.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        if (owner := _account_for(email)) is None:
            user = User(name=form.name.data, email=email)
            user.set_password(form.password.data)
            db.session.add(user)
            try:
                db.session.commit()
            except sa.exc.IntegrityError:  # taken a moment ago
                db.session.rollback()
                owner = _account_for(email)
            else:
                start_session(user, remember=False)
                flash(f"Welcome, {user.name}! Your account is ready.", "success")
                return redirect(
                    safe_next(request.args.get("next")) or url_for("items.index")
                )
        if owner is not None:
            # At most one such email an hour for an address, however often.
            messages.account_exists(owner, utcnow().strftime("%Y%m%d%H"), "signup")
            db.session.commit()
        form.email.errors.append(TAKEN_EMAIL)
    status = 422 if form.is_submitted() else 200
    return render_template("users/register.html", form=form), status


def _account_for(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


@bp.route("/login", methods=["GET", "POST"])
@throttle.per_address
@throttle.per_account
def login():
    """Sign in; the same answer for a wrong password and an unknown email."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("items.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            sa.select(User).where(User.email == User.normalize_email(form.email.data))
        )
        if user is None:
            check_password_hash(_dummy_hash(), form.password.data)
        elif user.check_password(form.password.data) and user.is_active:
            start_session(user, remember=form.remember.data)
            flash(f"Signed in as {user.name}.", "success")
            return redirect(
                safe_next(request.args.get("next")) or url_for("items.index")
            )
        form.password.errors.append("Invalid email or password.")
    status = 422 if form.is_submitted() else 200
    return render_template("users/login.html", form=form), status


@bp.post("/logout")
def logout():
    """Sign out everywhere: the session token changes, so old cookies stop working."""
    if current_user.is_authenticated:
        current_user.end_sessions()
        db.session.commit()
        logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("items.index"))


@bp.get("/<int:user_id>")
@login_required
def detail(user_id: int):
    """A profile: the items this user bought (user.items); theirs and admins' only."""
    if not may_see_user(user_id):
        abort(403)
    user = db.get_or_404(User, user_id)
    bought = (
        sa.select(
            Item,
            sa.func.sum(UserItem.quantity).label("units"),
            sa.func.sum(UserItem.total_cents).label("spent_cents"),
            sa.func.max(UserItem.created_at).label("last_bought"),
        )
        .join(UserItem, UserItem.item_id == Item.id)
        .where(UserItem.user_id == user.id, UserItem.counted)
        .group_by(Item.id)
        .order_by(sa.desc("last_bought"), Item.id.desc())
    )
    items = paginate_rows(bought, page_arg(), PROFILE_ITEMS_PER_PAGE)
    totals = db.session.execute(
        sa.select(
            sa.func.count(UserItem.id),
            sa.func.coalesce(sa.func.sum(UserItem.total_cents), 0),
        ).where(UserItem.user_id == user.id, UserItem.counted)
    ).one()
    recent = db.session.scalars(
        sa.select(UserItem)
        .where(UserItem.user_id == user.id, UserItem.counted)
        .options(so.joinedload(UserItem.item))
        .order_by(UserItem.created_at.desc(), UserItem.id.desc())
        .limit(10)
    ).all()
    return render_template(
        "users/detail.html",
        user=user,
        items=items,
        line_count=totals[0],
        spent_cents=totals[1],
        recent=recent,
    )
