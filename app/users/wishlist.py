"""The user's wishlist (/users/wishlist) and the "back in stock" emails'
switch: on the wishlist page for the signed-in user, and through the signed
link in each email for its recipient (/users/unsubscribe/<token>)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField

from app.extensions import csrf
from app.users import bp
from app.wishlist import set_back_in_stock_emails, user_of_token, wishlist_rows


class EmailsForm(FlaskForm):
    """Turn the "back in stock" emails on or off (the checkbox `wanted`)."""

    wanted = BooleanField("Email me when an item on my wishlist is back in stock")


@bp.get("/wishlist")
@login_required
def wishlist():
    """What the user wishes for, with each item's price and stock."""
    form = EmailsForm(wanted=current_user.back_in_stock_emails)
    return render_template(
        "users/wishlist.html", rows=wishlist_rows(current_user.id), form=form
    )


@bp.post("/wishlist/emails")
@login_required
def wishlist_emails():
    """Turn the user's "back in stock" emails on or off."""
    form = EmailsForm()
    if not form.validate_on_submit():
        abort(400)
    set_back_in_stock_emails(current_user.id, bool(form.wanted.data))
    flash(
        "We will email you when an item on your wishlist is back in stock."
        if form.wanted.data
        else "We will not email you when items on your wishlist are back in stock.",
        "success",
    )
    return redirect(url_for("users.wishlist"))


def _bad_link():
    return render_template(
        "users/link_problem.html",
        title="This link does not work",
        message="This unsubscribe link is not one of ours, or was cut short.",
        purpose="unsubscribe",
    ), 400


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """The link in every "back in stock" email: one button stops them.

    The GET only draws the button (mail scanners follow links; a GET never
    changes anything); the POST carries the page's CSRF token."""
    user_id = user_of_token(token)
    if user_id is None:
        return _bad_link()
    form = FlaskForm()
    if form.validate_on_submit():
        set_back_in_stock_emails(user_id, False)
        flash("Done: no more “back in stock” emails.", "success")
        return redirect(url_for("users.unsubscribe", token=token))
    if form.is_submitted():
        abort(400)
    return render_template("users/unsubscribe.html", token=token, form=form)


@bp.post("/unsubscribe/<token>/one-click")
@csrf.exempt
def unsubscribe_one_click(token: str):
    """RFC 8058's one-click unsubscribe, posted by the mail program from the
    email's List-Unsubscribe header (`List-Unsubscribe=One-Click`): no page and
    no CSRF token, the signed token in the URL is the authority (anything
    else is a plain 400)."""
    user_id = user_of_token(token)
    if user_id is None:
        abort(400)
    set_back_in_stock_emails(user_id, False)
    return (
        "You will get no more “back in stock” emails.\n",
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
    )
