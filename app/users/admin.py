"""Admin pages for users: the customer list and access changes (/users/...)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.audit import events as audit
from app.auth import admin_required
from app.database import begin_write, lock_in_key_order
from app.extensions import db
from app.models import User, UserItem
from app.numbers import whole_number_or_none
from app.pagination import page_arg, paginate_rows
from app.search import contains, search_text
from app.users import bp

USERS_PER_PAGE = 50

LINES = sa.func.count(UserItem.id).label("lines")
UNITS = sa.func.coalesce(sa.func.sum(UserItem.quantity), 0).label("units")
SPENT = sa.func.coalesce(sa.func.sum(UserItem.total_cents), 0).label("spent_cents")

SORTS = {
    "name": ("Name (A–Z)", (User.name.asc(), User.id.asc())),
    "spent": ("Total spent", (SPENT.desc(), User.id.asc())),
    "newest": ("Newest first", (User.created_at.desc(), User.id.desc())),
}


def _list_args() -> tuple[str, str]:
    q = search_text()
    sort = request.args.get("sort", "name")
    return q, sort if sort in SORTS else "name"


@bp.get("/")
@admin_required
def index():
    """Every customer with purchase lines, units and total spent (one grouped query)."""
    q, sort = _list_args()
    page = page_arg()
    search = sa.true()
    if q:
        search = sa.or_(contains(User.name, q), contains(User.email, q))
    rows = (
        sa.select(User, LINES, UNITS, SPENT)
        .outerjoin(UserItem, sa.and_(UserItem.user_id == User.id, UserItem.counted))
        .where(search)
        .group_by(User.id)
        .order_by(*SORTS[sort][1])
    )
    # Counting users is cheaper than counting the grouped rows.
    users = paginate_rows(
        rows,
        page,
        USERS_PER_PAGE,
        count_select=sa.select(sa.func.count(User.id)).where(search),
    )
    return render_template(
        "users/index.html",
        users=users,
        q=q,
        sort=sort,
        sorts={key: label for key, (label, _) in SORTS.items()},
    )


def _back_to_list():
    """Back to the list the admin came from (built here, so never an open redirect)."""
    q, sort = _list_args()
    page = whole_number_or_none(request.args.get("page"))
    return redirect(
        url_for(
            "users.index",
            q=q or None,
            sort=sort if sort != "name" else None,
            page=page if page and page > 1 else None,
        )
    )


LAST_ADMIN = (
    "The store must keep an enabled admin: {name} is the last one, "
    "so this was not done."
)


def _change_user(
    user_id: int,
    action: str,
    refuse_self: str | None,
    change: Callable[[User], str],
    takes_admin: bool = False,
):
    """Apply one access change to another user: write it and its audit event
    together, flash, redirect.

    The target, the acting admin and every admin are locked first, in id
    order: two admins revoking each other queue instead of deadlocking (each
    change's audit event points at its actor's row, so locking only the
    target let each wait on the other's). A change that takes an admin away
    (`takes_admin`) then checks, under those locks, that another enabled
    admin remains; of two admins revoking each other, the second is refused.
    """
    begin_write()
    lock_in_key_order(
        User.id,
        sa.select(User.id).where(
            sa.or_(User.is_admin, User.id.in_((user_id, current_user.id)))
        ),
    )
    user = db.session.get(User, user_id, populate_existing=True)
    if user is None:
        abort(404)
    if refuse_self and user.id == current_user.id:
        db.session.rollback()
        flash(refuse_self, "error")
        return _back_to_list()
    if user.is_deleted:
        db.session.rollback()
        flash("That account was deleted by its owner: it cannot be changed.", "error")
        return _back_to_list()
    if takes_admin and user.is_admin and user.is_enabled and not _other_admins(user):
        db.session.rollback()
        flash(LAST_ADMIN.format(name=user.name), "error")
        return _back_to_list()
    before = {field: getattr(user, field) for field in audit.USER_FIELDS}
    message = change(user)
    after = {field: getattr(user, field) for field in audit.USER_FIELDS}
    audit.record(action, user.id, before, after)
    db.session.commit()
    flash(message, "success")
    return _back_to_list()


def _other_admins(user: User) -> int:
    """Enabled admins besides `user` (read under the locks _change_user took)."""
    return db.session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.is_admin,
            User.is_enabled,
            User.deleted_at.is_(None),
            User.id != user.id,
        )
    )


@bp.post("/<int:user_id>/grant-admin")
@admin_required
def grant_admin(user_id: int):
    """Make a user an admin."""

    def change(user: User) -> str:
        user.is_admin = True
        return f"{user.name} is now an admin."

    return _change_user(user_id, "user.grant_admin", None, change)


@bp.post("/<int:user_id>/revoke-admin")
@admin_required
def revoke_admin(user_id: int):
    """Take admin rights away (never your own: the store always keeps an admin)."""

    def change(user: User) -> str:
        user.is_admin = False
        return f"{user.name} is no longer an admin."

    return _change_user(
        user_id,
        "user.revoke_admin",
        "You cannot remove your own admin rights.",
        change,
        takes_admin=True,
    )


@bp.post("/<int:user_id>/disable")
@admin_required
def disable(user_id: int):
    """Stop a user signing in and end every session they have."""

    def change(user: User) -> str:
        user.is_enabled = False
        user.end_sessions()
        return f"Disabled {user.name}: signed out everywhere and cannot sign in."

    return _change_user(
        user_id,
        "user.disable",
        "You cannot disable your own account.",
        change,
        takes_admin=True,
    )


@bp.post("/<int:user_id>/enable")
@admin_required
def enable(user_id: int):
    """Let a disabled user sign in again."""

    def change(user: User) -> str:
        user.is_enabled = True
        return f"Enabled {user.name}: they can sign in again."

    return _change_user(user_id, "user.enable", None, change)
