"""The outbox for admins (/mail/): emails waiting, failed or sent, and a
retry button for those that failed.

Bodies are never shown: a password-reset email holds a link that signs in
as its recipient.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for

from app.auth import admin_required
from app.extensions import db
from app.mail import bp, outbox
from app.mail.kinds import FAILED, LABELS, PENDING, SENT
from app.models import OutboxMessage
from app.pagination import page_arg
from app.users.forms import ConfirmForm

PER_PAGE = 50
TABS = {PENDING: "Waiting", FAILED: "Failed", SENT: "Sent"}


@bp.get("/")
@admin_required
def index():
    """The outbox by status (waiting first), newest first, with each email's
    tries and last error."""
    status = request.args.get("status", PENDING)
    if status not in TABS:
        abort(400)
    counts = dict(
        db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(
                OutboxMessage.status
            )
        ).all()
    )
    messages = db.paginate(
        sa.select(OutboxMessage)
        .where(OutboxMessage.status == status)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
        page=page_arg(),
        per_page=PER_PAGE,
        max_per_page=None,
        count=False,
    )
    messages.total = counts.get(status, 0)
    return render_template(
        "mail/index.html",
        messages=messages,
        status=status,
        counts=counts,
        tabs=TABS,
        labels=LABELS,
        form=ConfirmForm(),
    )


@bp.post("/<int:message_id>/retry")
@admin_required
def retry(message_id: int):
    """Send a failed (or waiting) email again as soon as the worker looks."""
    row = db.get_or_404(OutboxMessage, message_id)
    status = row.status
    if outbox.retry(message_id):
        flash(f"The email to {row.recipient} will be sent again shortly.", "success")
    else:
        flash(f"The email to {row.recipient} was already sent.", "info")
    return redirect(url_for("mail.index", status=status))
