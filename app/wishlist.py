"""The wishlist: items a signed-in user wishes for, and its "back in stock"
emails' unsubscribe tokens. Shared by the item pages (the wishlist button),
the user's wishlist page and the mail worker.

A wish is a row of `wishlist_items` (a unique user-item pair); the user's
count is kept by triggers (migration 0010), so the account menu reads it
from the user's own row.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.dialects import postgresql, sqlite

from app.database import begin_write
from app.extensions import db
from app.models import Item, User, WishlistItem, utcnow

UNSUBSCRIBE_SALT = "store.back-in-stock-unsubscribe"
TOKEN_MAX = 200  # longer is not one of ours


def toggle(user_id: int, item_id: int) -> bool | None:
    """Add the live item to the user's wishlist, or take it off if it was
    there: True when added, False when removed, None for an unknown or
    archived item (nothing written). Commits."""
    begin_write()
    live = sa.exists().where(Item.id == item_id, Item.archived_at.is_(None))
    removed = db.session.execute(
        sa.delete(WishlistItem)
        .where(WishlistItem.user_id == user_id, WishlistItem.item_id == item_id, live)
        .execution_options(synchronize_session=False)
    ).rowcount
    if removed:
        db.session.commit()
        return False
    now = utcnow()
    source = sa.select(
        sa.literal(user_id),
        sa.literal(item_id),
        sa.literal(now, sa.DateTime),
        sa.literal(now, sa.DateTime),
    ).where(live)
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        WishlistItem
    )
    added = db.session.execute(
        insert.from_select(["user_id", "item_id", "created_at", "updated_at"], source)
        .on_conflict_do_nothing(index_elements=["user_id", "item_id"])
        .returning(WishlistItem.id)
    ).scalar()
    if added is None:
        # A racing toggle added it first (it stays), or no such live item.
        is_live = db.session.scalar(sa.select(live))
        db.session.rollback()
        return True if is_live else None
    db.session.commit()
    return True


def wished_ids(item_ids) -> set[int]:
    """Which of these items the signed-in visitor wishes for: one query, none
    for visitors or when no user has anything on the wishlist."""
    ids = {item_id for item_id in item_ids if item_id is not None}
    if not current_user.is_authenticated or not ids or not current_user.wishlist_count:
        return set()
    return set(
        db.session.scalars(
            sa.select(WishlistItem.item_id).where(
                WishlistItem.user_id == current_user.id,
                WishlistItem.item_id.in_(sorted(ids)),
            )
        )
    )


def wishlist_rows(user_id: int) -> list:
    """The user's wishlist, newest wish first, with each item's price, stock
    and whether it is still sold: one query."""
    return db.session.execute(
        sa.select(
            Item.id,
            Item.name,
            Item.price_cents,
            Item.stock,
            Item.archived_at,
            Item.rating_count,
            Item.rating_sum,
            WishlistItem.created_at.label("wished_at"),
        )
        .join(WishlistItem.item)
        .where(WishlistItem.user_id == user_id)
        .order_by(WishlistItem.created_at.desc(), WishlistItem.id.desc())
    ).all()


# --- "back in stock" emails: opting out and in -------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int) -> str:
    """A signed token naming the user, for the link in every "back in stock"
    email: it needs no sign-in and never expires (an old email's link still
    works), and only stops those emails."""
    return _serializer().dumps(user_id)


def user_of_token(token: str) -> int | None:
    """The user id a token names, or None for anything not made by us."""
    if len(token) > TOKEN_MAX:
        return None
    try:
        user_id = _serializer().loads(token)
    except BadSignature:
        return None
    return user_id if isinstance(user_id, int) and user_id > 0 else None


def set_back_in_stock_emails(user_id: int, wanted: bool) -> bool:
    """Turn the user's "back in stock" emails on or off; False for no such
    (or a deleted) user. Commits."""
    begin_write()
    changed = db.session.execute(
        sa.update(User)
        .where(User.id == user_id, User.deleted_at.is_(None))
        .values(back_in_stock_emails=wanted)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return changed == 1
