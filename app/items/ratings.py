"""Reviews: who may write one, the writes themselves, and what the item page reads.

Every write is one statement on the current state. A review is written by
`INSERT ... SELECT ... WHERE EXISTS (a counted purchase line of this user for
this item)`, so the purchase is checked by the statement that writes, and
the unique (user_id, item_id) key turns a racing second review into "already
reviewed" (ON CONFLICT DO NOTHING). The item's rating_count and rating_sum
are kept by triggers on reviews (migration 0010): nothing here writes them,
and no review touches the item's other columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.dialects import postgresql, sqlite

from app.database import begin_write
from app.extensions import db
from app.limits import REVIEWS_PER_PAGE
from app.models import Item, Review, User, UserItem, utcnow
from app.pagination import paginate_rows


class Written(Enum):
    """What became of a review's POST."""

    ADDED = "added"
    ALREADY = "already"  # this user reviewed the item before
    NOT_BOUGHT = "not_bought"  # no purchase that still counts
    NO_ITEM = "no_item"  # unknown or archived


def bought(user_id: int, item_id: int) -> sa.Exists:
    """A purchase line of this user for this item that still counts: its order
    is neither cancelled nor refunded (an unpaid order counts)."""
    return sa.exists().where(
        UserItem.user_id == user_id, UserItem.item_id == item_id, UserItem.counted
    )


def add_review(
    user_id: int, item_id: int, rating: int, title: str, body: str
) -> Written:
    """Write the review if the user bought the live item and has not reviewed
    it yet; commits what it wrote, rolls back otherwise."""
    begin_write()
    if db.session.get_bind().dialect.name == "postgresql":
        # The counted lines locked until the commit: a cancellation racing
        # this review waits for it, or is seen by it (READ COMMITTED), so a
        # review never lands on the strength of a line already cancelled.
        db.session.execute(
            sa.select(UserItem.id)
            .where(
                UserItem.user_id == user_id,
                UserItem.item_id == item_id,
                UserItem.counted,
            )
            .with_for_update(read=True)
        )
    now = utcnow()
    source = sa.select(
        sa.literal(user_id),
        sa.literal(item_id),
        sa.literal(rating),
        sa.literal(title),
        sa.literal(body),
        sa.literal(now, sa.DateTime),
        sa.literal(now, sa.DateTime),
    ).where(
        bought(user_id, item_id),
        sa.exists().where(Item.id == item_id, Item.archived_at.is_(None)),
    )
    columns = ["user_id", "item_id", "rating", "title", "body"]
    insert = (
        _insert(Review)
        .from_select([*columns, "created_at", "updated_at"], source)
        .on_conflict_do_nothing(index_elements=["user_id", "item_id"])
        .returning(Review.id)
    )
    if db.session.execute(insert).scalar() is not None:
        db.session.commit()
        return Written.ADDED
    why = db.session.execute(
        sa.select(
            sa.exists().where(Review.user_id == user_id, Review.item_id == item_id),
            sa.exists().where(Item.id == item_id, Item.archived_at.is_(None)),
        )
    ).one()
    db.session.rollback()
    if why[0]:
        return Written.ALREADY
    if not why[1]:
        return Written.NO_ITEM
    return Written.NOT_BOUGHT


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def edit_review(user_id: int, item_id: int, rating: int, title: str, body: str) -> bool:
    """Change the user's own review (a hidden one stays hidden); False if
    there is none. Commits."""
    begin_write()
    changed = db.session.execute(
        sa.update(Review)
        .where(Review.user_id == user_id, Review.item_id == item_id)
        .values(rating=rating, title=title, body=body, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return changed == 1


def delete_review(user_id: int, item_id: int) -> bool:
    """Delete the user's own review; False if there is none. Commits."""
    begin_write()
    deleted = db.session.execute(
        sa.delete(Review)
        .where(Review.user_id == user_id, Review.item_id == item_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return deleted == 1


def set_hidden(review_id: int, item_id: int, hidden: bool) -> bool:
    """An admin hides (or shows again) a review: one conditional UPDATE on
    its current state, in the caller's transaction; False if it was already
    so (or is not this item's)."""
    state = Review.hidden_at.is_(None) if hidden else Review.hidden_at.is_not(None)
    return (
        db.session.execute(
            sa.update(Review)
            .where(Review.id == review_id, Review.item_id == item_id, state)
            .values(hidden_at=utcnow() if hidden else None)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


# --- what the item page reads -------------------------------------------------------


def reviewer_name(name: str, deleted: bool = False) -> str:
    """How a reviewer appears to everyone: first name and initial ("Ada L.")."""
    if deleted:
        return "A former customer"
    words = name.split()
    if not words:
        return "A customer"
    if len(words) == 1:
        return words[0]
    return f"{words[0]} {words[-1][0]}."


@dataclass(frozen=True)
class Viewer:
    """What the signed-in visitor may do with this item's reviews and wishlist."""

    bought: bool = False
    review_id: int | None = None
    review_hidden: bool = False


def viewer_of(item_id: int) -> Viewer:
    """One query: did the visitor buy the item, and their review if any."""
    if not current_user.is_authenticated:
        return Viewer()
    mine = sa.and_(Review.user_id == current_user.id, Review.item_id == item_id)
    row = db.session.execute(
        sa.select(
            bought(current_user.id, item_id).label("bought"),
            sa.select(Review.id).where(mine).scalar_subquery().label("review_id"),
            sa.exists()
            .where(mine, Review.hidden_at.is_not(None))
            .label("review_hidden"),
        )
    ).one()
    return Viewer(bool(row.bought), row.review_id, bool(row.review_hidden))


def reviews_page(item: Item, page: int, with_hidden: bool = False) -> Pagination:
    """The item's reviews, newest first, REVIEWS_PER_PAGE a page, with each
    reviewer's name joined in. The visible ones' total is the item's running
    count (no counting query); admins also see hidden ones, counted.
    A page past the end shows the last page."""
    select = (
        sa.select(
            Review.id,
            Review.rating,
            Review.title,
            Review.body,
            Review.created_at,
            Review.updated_at,
            Review.hidden_at,
            User.name.label("user_name"),
            User.deleted_at.label("user_deleted_at"),
        )
        .join(Review.user)
        .where(Review.item_id == item.id)
    )
    if with_hidden:
        total = db.session.scalar(
            sa.select(sa.func.count(Review.id)).where(Review.item_id == item.id)
        )
    else:
        select = select.where(Review.hidden_at.is_(None))
        total = item.rating_count
    last_page = max(1, -(-total // REVIEWS_PER_PAGE))
    return paginate_rows(
        select,
        min(max(page, 1), last_page),
        REVIEWS_PER_PAGE,
        total=total,
        order_by=(Review.created_at.desc(), Review.id.desc()),
        error_out=False,
    )
