"""Restocks into "back in stock" emails, by the outbox worker.

A trigger on items (migration 0010) writes a `restocks` row in the very
transaction in which an item's stock goes from 0 to more while somebody
wishes for it, whatever statement did it. So no code path can restock
without the emails following: the worker, before each batch, turns every
restock not yet notified into one outbox row per wisher who still wants
these emails, and marks it notified, in one transaction. Each email's dedupe
key names the restock and the user (`back_in_stock:<restock id>:<user id>`):
a second restock is a second email; a worker that dies half-way, or two
workers at once, queue each email once.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.database import begin_write
from app.extensions import db
from app.mail import messages
from app.models import Item, Restock, User, WishlistItem, utcnow

BATCH = 20  # restocks per transaction


def notify_restocks(limit: int = BATCH) -> int:
    """Queue the emails of up to `limit` restocks not yet notified; commits.
    Returns how many emails were queued."""
    begin_write()
    pending = (
        sa.select(Restock)
        .where(Restock.notified_at.is_(None))
        .order_by(Restock.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    restocks = db.session.scalars(pending).all()
    if not restocks:
        db.session.rollback()
        return 0
    queued = 0
    now = utcnow()
    for restock in restocks:
        item = db.session.get(Item, restock.item_id)
        if item is not None and not item.is_archived:
            wishers = db.session.scalars(
                sa.select(User)
                .join(WishlistItem, WishlistItem.user_id == User.id)
                .where(
                    WishlistItem.item_id == item.id,
                    User.back_in_stock_emails,
                    User.is_enabled,
                    User.deleted_at.is_(None),
                )
                .order_by(User.id)
            )
            queued += sum(messages.back_in_stock(restock.id, u, item) for u in wishers)
        db.session.execute(
            sa.update(Restock)
            .where(Restock.id == restock.id, Restock.notified_at.is_(None))
            .values(notified_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return queued
