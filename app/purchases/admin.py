"""Admin views of purchases: every line, filters, sales summary, CSV export."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import render_template

from app.auth import admin_required
from app.csv_files import csv_lines, csv_response
from app.extensions import db
from app.models import Item, User, UserItem
from app.money import cents_to_decimal_text
from app.pagination import id_arg, page_arg
from app.purchases import bp
from app.search import contains, search_text

PER_PAGE = 50
CSV_HEADER = (
    "id",
    "created_at",
    "user_id",
    "user_email",
    "item_id",
    "item_name",
    "quantity",
    "unit_price",
    "total",
)


@dataclass(frozen=True)
class Filters:
    """The `?customer=` (a name or email, any part, any case), `?user_id=`
    and `?item_id=` filters, with the rows the ids name."""

    user: User | None
    item: Item | None
    customer: str = ""

    @property
    def conditions(self) -> list[sa.ColumnElement[bool]]:
        # Lines of cancelled or fully refunded orders are not purchases.
        found: list[sa.ColumnElement[bool]] = [UserItem.counted]
        if self.user:
            found.append(UserItem.user_id == self.user.id)
        if self.item:
            found.append(UserItem.item_id == self.item.id)
        if self.customer:
            found.append(
                UserItem.user_id.in_(
                    sa.select(User.id).where(
                        sa.or_(
                            contains(User.name, self.customer),
                            contains(User.email, self.customer),
                        )
                    )
                )
            )
        return found

    @property
    def args(self) -> dict[str, int | str]:
        """The query-string arguments that reproduce these filters in a link."""
        found = {}
        if self.user:
            found["user_id"] = self.user.id
        if self.item:
            found["item_id"] = self.item.id
        if self.customer:
            found["customer"] = self.customer
        return found


def _filters() -> Filters:
    """Read the filters; an id that names no user or item is a 404."""
    user_id, item_id = id_arg("user_id"), id_arg("item_id")
    user = db.get_or_404(User, user_id) if user_id else None
    item = db.get_or_404(Item, item_id) if item_id else None
    return Filters(user=user, item=item, customer=search_text("customer"))


@bp.get("/all")
@admin_required
def admin_index():
    """Every purchase line, newest first, 50 a page, with the sales summary of
    the filtered lines on top. Two queries whatever the page size: the
    aggregate (which also counts for the pagination) and the page itself with
    its user and item joined in.
    """
    filters = _filters()
    page = page_arg()
    lines, units, revenue, customers = db.session.execute(
        sa.select(
            sa.func.count(UserItem.id),
            sa.func.coalesce(sa.func.sum(UserItem.quantity), 0),
            sa.func.coalesce(sa.func.sum(UserItem.total_cents), 0),
            sa.func.count(sa.distinct(UserItem.user_id)),
        ).where(*filters.conditions)
    ).one()
    purchases = db.paginate(
        sa.select(UserItem)
        .join(UserItem.user)
        .join(UserItem.item)
        .options(
            so.contains_eager(UserItem.user),
            so.contains_eager(UserItem.item),
            so.joinedload(UserItem.order),
        )
        .where(*filters.conditions)
        .order_by(UserItem.created_at.desc(), UserItem.id.desc()),
        page=page,
        per_page=PER_PAGE,
        max_per_page=None,
        count=False,
    )
    purchases.total = lines  # counted by the aggregate above
    return render_template(
        "purchases/admin_index.html",
        purchases=purchases,
        filters=filters,
        summary={
            "lines": int(lines),
            "units": int(units),
            "revenue_cents": int(revenue),
            "customers": int(customers),
        },
    )


@bp.get("/export.csv")
@admin_required
def export():
    """The filtered purchase lines as CSV, streamed in batches (no size limit)."""
    filters = _filters()
    rows = (
        sa.select(
            UserItem.id,
            UserItem.created_at,
            UserItem.user_id,
            User.email,
            UserItem.item_id,
            UserItem.item_name,
            UserItem.quantity,
            UserItem.unit_price_cents,
            UserItem.total_cents,
        )
        .join(User, UserItem.user_id == User.id)
        .where(*filters.conditions)
        .order_by(UserItem.created_at.desc(), UserItem.id.desc())
        .execution_options(yield_per=1_000)
    )

    def cells():
        for row in db.session.execute(rows):
            line_id, created, user_id, email, item_id, name, quantity, price, total = (
                row
            )
            yield (
                line_id,
                created.isoformat(sep=" ", timespec="seconds"),
                user_id,
                email,
                item_id,
                name,
                quantity,
                cents_to_decimal_text(price),
                cents_to_decimal_text(total),
            )

    name = "-".join(
        [
            "purchases",
            *(f"{key.split('_')[0]}{value}" for key, value in filters.args.items()),
        ]
    )
    return csv_response(csv_lines(CSV_HEADER, cells()), name)
