"""Pagination helpers: a safe page number and row (not just entity) pagination."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import abort, request
from flask_sqlalchemy.pagination import Pagination

from app.extensions import db
from app.models import MAX_ID

MAX_PAGE = 100_000
ID_RE = re.compile(r"\d{1,10}", re.ASCII)


def page_arg(name: str = "page") -> int:
    """The page number from the query string: junk means 1, out of range is a 404."""
    page = request.args.get(name, 1, type=int)
    if page < 1 or page > MAX_PAGE:
        abort(404)
    return page


def id_arg(name: str) -> int | None:
    """An id filter from the query string: blank means none, junk is a 400 and
    an id no row can have (above the 32-bit columns) a 404."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    if not ID_RE.fullmatch(text):
        abort(400)
    number = int(text)
    if not 1 <= number <= MAX_ID:
        abort(404)
    return number


class RowPagination(Pagination):
    """Paginate a select of several columns (an entity plus aggregates, or plain
    columns). `count_select`, when given, is a cheaper statement for the total
    than counting the select's rows."""

    def _query_items(self) -> list[Any]:
        select: sa.Select = self._query_args["select"]
        return list(
            db.session.execute(select.limit(self.per_page).offset(self._query_offset))
        )

    def _query_count(self) -> int:
        if (count_select := self._query_args.get("count_select")) is not None:
            return db.session.scalar(count_select) or 0
        select: sa.Select = self._query_args["select"]
        counted = sa.select(sa.func.count()).select_from(
            select.order_by(None).subquery()
        )
        return db.session.scalar(counted) or 0


def paginate_rows(
    select: sa.Select, page: int, per_page: int, count_select: sa.Select | None = None
) -> RowPagination:
    return RowPagination(
        select=select,
        count_select=count_select,
        page=page,
        per_page=per_page,
        max_per_page=None,
    )
