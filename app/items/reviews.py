"""Reviews of an item (/items/<id>/reviews...): a buyer writes, edits or
deletes their own; an admin hides or shows one again (audited). The wishlist
button (/items/<id>/wishlist) lives here too: both act on the item page."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from app.audit import events as audit
from app.auth import admin_required
from app.database import begin_write
from app.extensions import db
from app.items import bp
from app.items.forms import ReviewForm
from app.items.ratings import (
    Written,
    add_review,
    delete_review,
    edit_review,
    reviewer_name,
    set_hidden,
)
from app.models import Item, Review, rating_average
from app.wishlist import toggle

NOT_BOUGHT = (
    "Only customers who bought this item (on an order that was not cancelled "
    "or refunded) can review it."
)
ALREADY = "You have reviewed this item already: edit your review instead."
# A refused review: the page again with why, and a status that says it.
REFUSED = {Written.ALREADY: (ALREADY, 409), Written.NOT_BOUGHT: (NOT_BOUGHT, 403)}
# Where the wishlist button may send the shopper back to: the store's own
# catalogue, item and wishlist pages, nothing else.
BACK_TO = re.compile(r"/(items/[A-Za-z0-9/?=&%._~+-]*|users/wishlist)")


bp.add_app_template_global(reviewer_name)
bp.add_app_template_global(rating_average)


def _live_item(item_id: int) -> Item:
    """The item, or 404 if unknown or archived (for everyone, admins included:
    an archived item takes no reviews or wishes)."""
    item = db.get_or_404(Item, item_id)
    if item.is_archived:
        abort(404)
    return item


def _sign_in_first(item_id: int):
    """A visitor's POST: to the sign-in page, coming back to the item page
    (a POST-only URL as `next` would be a 405 after signing in)."""
    if current_user.is_authenticated:
        return None
    return redirect(
        url_for("users.login", next=url_for("items.detail", item_id=item_id))
    )


def _item_page(item_id: int, anchor: str | None = "reviews"):
    values = {"_anchor": anchor} if anchor else {}
    return redirect(url_for("items.detail", item_id=item_id, **values))


@bp.post("/<int:item_id>/reviews")
def review_create(item_id: int):
    """Write a review: only a buyer of the item, once."""
    if visitor := _sign_in_first(item_id):
        return visitor
    form = ReviewForm()
    if not form.validate_on_submit():
        return _form_page(_live_item(item_id), form, new=True)
    written = add_review(
        current_user.id, item_id, form.rating.data, form.title.data, form.body.data
    )
    if written is Written.NO_ITEM:
        abort(404)
    if written is not Written.ADDED:
        refusal, status = REFUSED[written]
        return _form_page(
            _live_item(item_id), form, new=True, refusal=refusal, status=status
        )
    flash("Thank you: your review is on the page.", "success")
    return _item_page(item_id)


@bp.route("/<int:item_id>/reviews/edit", methods=["GET", "POST"])
@login_required
def review_edit(item_id: int):
    """Edit one's own review of the item."""
    item = _live_item(item_id)
    review = db.session.scalar(
        db.select(Review).where(
            Review.user_id == current_user.id, Review.item_id == item_id
        )
    )
    if review is None:
        abort(404)
    form = ReviewForm(obj=review)
    if form.validate_on_submit():
        if not edit_review(
            current_user.id,
            item_id,
            form.rating.data,
            form.title.data,
            form.body.data,
        ):
            abort(404)  # deleted meanwhile
        flash("Your review is updated.", "success")
        return _item_page(item_id)
    return _form_page(item, form, new=False)


def _form_page(
    item: Item,
    form: ReviewForm,
    new: bool,
    refusal: str | None = None,
    status: int | None = None,
):
    if status is None:
        status = 422 if form.is_submitted() else 200
    return render_template(
        "items/review_form.html", item=item, form=form, new=new, refusal=refusal
    ), status


@bp.post("/<int:item_id>/reviews/withdraw")
@login_required
def review_withdraw(item_id: int):
    """Delete one's own review of the item."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    if not delete_review(current_user.id, item_id):
        abort(404)
    flash("Your review is deleted.", "success")
    return _item_page(item_id)


@bp.post("/<int:item_id>/reviews/<int:review_id>/hide")
@admin_required
def review_hide(item_id: int, review_id: int):
    """Hide a review from the item page (its rating leaves the average)."""
    return _set_hidden(item_id, review_id, hidden=True)


@bp.post("/<int:item_id>/reviews/<int:review_id>/show")
@admin_required
def review_show(item_id: int, review_id: int):
    """Show a hidden review again."""
    return _set_hidden(item_id, review_id, hidden=False)


def _set_hidden(item_id: int, review_id: int, hidden: bool):
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    begin_write()
    if (
        db.session.scalar(
            db.select(Review.id).where(
                Review.id == review_id, Review.item_id == item_id
            )
        )
        is None
    ):
        db.session.rollback()
        abort(404)
    if set_hidden(review_id, item_id, hidden):
        key = f"review_{review_id}_hidden"
        if hidden:
            audit.record("item.review_hide", item_id, {key: False}, {key: True})
        else:
            audit.record("item.review_show", item_id, {key: True}, {key: False})
        db.session.commit()
        flash(
            "The review is hidden." if hidden else "The review shows again.", "success"
        )
    else:
        db.session.rollback()
        flash(
            "The review was hidden already." if hidden else "The review shows already.",
            "info",
        )
    return _item_page(item_id)


@bp.post("/<int:item_id>/wishlist")
def wishlist_toggle(item_id: int):
    """Add the item to the wishlist, or take it off if it is there."""
    if visitor := _sign_in_first(item_id):
        return visitor
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    added = toggle(current_user.id, item_id)
    if added is None:
        abort(404)
    if added:
        flash(
            "Added to your wishlist: we will email you if it sells out and comes back.",
            "success",
        )
    else:
        flash("Taken off your wishlist.", "success")
    back = request.form.get("next", "")
    if BACK_TO.fullmatch(back) and "//" not in back and ".." not in back:
        return redirect(back)
    return _item_page(item_id, anchor=None)
