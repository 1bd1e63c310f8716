"""Passwords and account settings (/users/password/..., /users/account...).

- A forgotten password: /users/password/forgot answers the same whether or
  not the email has an account, and emails a link that works once, for
  PASSWORD_RESET_MINUTES; using it sets the password and ends every session.
- The account page changes the name, the email (the current password
  needed; the new address takes effect when the link sent to it is used)
  and the password (the current one needed; other sessions end), and
  deletes the account (personal details removed, orders kept).

Every email is queued in the outbox in the transaction of the change
(app/mail/); the links are app/users/tokens.py's.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.security import generate_password_hash

from app.csrf import sends_remember_cookie
from app.database import begin_write
from app.extensions import db
from app.mail import messages
from app.mail.kinds import ORDER_KINDS
from app.models import Address, OutboxMessage, User, utcnow
from app.users import bp, throttle, tokens
from app.users.forms import (
    AccountForm,
    ConfirmForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    ResetPasswordForm,
)
from app.users.routes import start_session

DELETED_NAME = "Deleted account"
LINK_PROBLEMS = {
    "expired": (
        "This link has expired",
        "Links in our emails work for a limited time. Ask for a new one below.",
    ),
    "used": (
        "This link was already used",
        "Each link works once, and only until the password or email changes. "
        "Ask for a new one if you still need it.",
    ),
    "invalid": (
        "This link does not work",
        "It may have been copied only in part. Open it from the email again, "
        "or ask for a new one.",
    ),
}


def _minute() -> str:
    """Names emails of one minute: a double click queues one email."""
    return utcnow().strftime("%Y%m%d%H%M")


def _link_problem(problem: tokens.TokenProblem, purpose: str):
    """A clear page for a link that does not work; nothing is changed."""
    title, message = LINK_PROBLEMS[problem.reason]
    return render_template(
        "users/link_problem.html", title=title, message=message, purpose=purpose
    ), 400


# --- a forgotten password ---------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@throttle.per_address
@throttle.per_account
def forgot_password():
    """Email a reset link; the same answer whether or not the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        user = db.session.scalar(
            sa.select(User).where(
                User.email == email, User.is_enabled, User.deleted_at.is_(None)
            )
        )
        if user is not None:
            token = tokens.make(tokens.RESET, user)
            messages.password_reset(user, token, _minute())
            db.session.commit()
        flash(
            f"If an account uses {email}, we have sent it a link to choose a new "
            "password. Check your inbox (and your spam folder).",
            "info",
        )
        return redirect(url_for("users.forgot_password"))
    status = 422 if form.is_submitted() else 200
    return render_template("users/forgot_password.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@throttle.per_address
def reset_password(token: str):
    """Choose a new password with an emailed link: every session ends, and
    the link stops working."""
    try:
        checked = tokens.check(tokens.RESET, token)
    except tokens.TokenProblem as problem:
        return _link_problem(problem, "reset")
    form = ResetPasswordForm()
    if form.validate_on_submit():
        begin_write()
        try:  # again, as the writer: a racing use of the same link lost
            user = tokens.check(tokens.RESET, token).user
        except tokens.TokenProblem as problem:
            db.session.rollback()
            return _link_problem(problem, "reset")
        user.set_password(form.password.data)
        user.end_sessions()
        messages.password_changed(user, _minute())
        db.session.commit()
        logout_user()
        session.clear()
        flash("Your password is changed. Sign in with it now.", "success")
        return redirect(url_for("users.login"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "users/reset_password.html", form=form, user=checked.user
    ), status


# --- the account page -------------------------------------------------------------


@bp.route("/account", methods=["GET", "POST"])
@login_required
@throttle.per_account
def account():
    """Change the name, the email (confirmed by a link sent to it) or the
    password; the current password is needed for the last two."""
    user = current_user._get_current_object()
    form = AccountForm(obj=user if request.method == "GET" else None)
    if form.validate_on_submit():
        new_email = User.normalize_email(form.email.data)
        email_changes = new_email != user.email
        password_changes = bool(form.password.data)
        if (email_changes or password_changes) and not _current_password_ok(
            user, form.current_password
        ):
            return _account_page(form, DeleteAccountForm(), 422)
        begin_write()
        user = db.session.get(User, user.id)
        done = []
        if form.name.data != user.name:
            user.name = form.name.data
            done.append("Your name is saved.")
        if password_changes:
            user.set_password(form.password.data)
            user.end_sessions()  # every other session ends; this one starts anew
            messages.password_changed(user, _minute())
            done.append("Your password is changed; you are signed out everywhere else.")
        if email_changes:
            _ask_to_confirm(user, new_email)
            done.append(
                f"We sent a link to {new_email}: your email changes when you open it."
            )
        db.session.commit()
        if password_changes:
            start_session(user, remember=sends_remember_cookie())
        flash(" ".join(done) or "Nothing to change.", "success" if done else "info")
        return redirect(url_for("users.account"))
    status = 422 if form.is_submitted() else 200
    return _account_page(form, DeleteAccountForm(), status)


def _current_password_ok(user: User, field) -> bool:
    if not field.data:
        field.errors.append(
            "Enter your current password to change your email or password."
        )
        return False
    if not user.check_password(field.data):
        field.errors.append("That is not your current password.")
        return False
    return True


def _ask_to_confirm(user: User, new_email: str) -> None:
    """Send the confirmation link to the new address; an address taken by
    another account gets a note for its owner instead (the page says the
    same either way)."""
    owner = db.session.scalar(sa.select(User).where(User.email == new_email))
    if owner is not None:
        if not owner.is_deleted:
            messages.account_exists(
                owner, utcnow().strftime("%Y%m%d%H"), "email_change"
            )
        return
    db.session.flush()  # the token covers the account as this change leaves it
    token = tokens.make(tokens.EMAIL_CHANGE, user, new_email)
    messages.email_change(user, new_email, token, _minute())


def _account_page(form: AccountForm, delete_form: DeleteAccountForm, status: int):
    return render_template(
        "users/account.html", form=form, delete_form=delete_form
    ), status


@bp.route("/account/email/<token>", methods=["GET", "POST"])
@throttle.per_address
def confirm_email(token: str):
    """The link sent to a new address: pressing its button moves the account
    there (a GET changes nothing, so a mail scanner opening it is harmless)."""
    try:
        checked = tokens.check(tokens.EMAIL_CHANGE, token)
    except tokens.TokenProblem as problem:
        return _link_problem(problem, "email")
    form = ConfirmForm()
    if form.validate_on_submit():
        begin_write()
        try:
            checked = tokens.check(tokens.EMAIL_CHANGE, token)
        except tokens.TokenProblem as problem:
            db.session.rollback()
            return _link_problem(problem, "email")
        user, old_email = checked.user, checked.user.email
        user.email = checked.new_email
        try:
            db.session.flush()
        except sa.exc.IntegrityError:
            db.session.rollback()
            flash(
                f"{checked.new_email} is used by another account now, so it cannot "
                "be yours. Your email is unchanged.",
                "error",
            )
            return redirect(url_for("users.login"))
        messages.email_changed(user, old_email, _minute())
        db.session.commit()
        flash(f"Your account now uses {user.email}.", "success")
        if current_user.is_authenticated and current_user.id == user.id:
            return redirect(url_for("users.account"))
        return redirect(url_for("users.login"))
    return render_template(
        "users/confirm_email.html",
        form=form,
        user=checked.user,
        email=checked.new_email,
    )


@bp.post("/account/delete")
@login_required
@throttle.per_account
def delete_account():
    """Delete the account: name, email, password, saved addresses and
    account emails go; the orders stay for the shop's books, under the
    account's new anonymous name; signing in is impossible."""
    user = current_user._get_current_object()
    form = DeleteAccountForm()
    if user.is_admin:
        flash(
            "An admin account cannot be deleted: ask another admin to remove your "
            "admin rights first.",
            "error",
        )
        return redirect(url_for("users.account"))
    if not form.validate_on_submit() or not _current_password_ok(
        user, form.current_password
    ):
        return _account_page(AccountForm(obj=user), form, 422)
    begin_write()
    user = db.session.get(User, user.id)
    old_email = user.email
    user.name = DELETED_NAME
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.password_hash = generate_password_hash(secrets.token_hex(32))
    user.is_enabled = False
    user.is_admin = False
    user.deleted_at = utcnow()
    user.end_sessions()
    db.session.execute(sa.delete(Address).where(Address.user_id == user.id))
    # Account emails (links, notices) go with the account; order emails stay
    # with the orders.
    db.session.execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.recipient == old_email, OutboxMessage.kind.not_in(ORDER_KINDS)
        )
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("Your account is deleted. Thank you for shopping with us.", "success")
    return redirect(url_for("items.index"))
