"""Pagination helpers: a safe page number and row (not just entity) pagination."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import abort, request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate

from app.database import materialized, sql_literal
from app.extensions import db
from app.limits import MAX_ID, MAX_PAGE
from app.numbers import whole_number_or_none

ID_RE = re.compile(r"\d{1,10}", re.ASCII)
# What int() would take as a number: the page past the end, not junk.
NUMBER_RE = re.compile(r"[+-]?\d+")


def page_arg(name: str = "page") -> int:
    """The page number from the query string: junk means 1, a number out of
    range (0, negative, or past MAX_PAGE, however many digits) is a 404."""
    text = request.args.get(name, "").strip()
    if not text:
        return 1
    page = whole_number_or_none(text)
    if page is None:
        if NUMBER_RE.fullmatch(text):
            abort(404)
        return 1
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
    number = int(text)  # ten digits at most: checked before converting
    if not 1 <= number <= MAX_ID:
        abort(404)
    return number


class RowPagination(Pagination):
    """Paginate a select of several columns (an entity plus aggregates, or plain
    columns). `count_select`, when given, is a cheaper statement for the total
    than counting the select's rows, and `total` the total already known.
    `order_by` orders the select (or the select comes ordered, without `key`).
    `key`, when given, is the selected table's primary key: the page's keys
    are found first, from the ordering index alone, then only their rows are
    read (a "deferred join"), so a deep page skips thousands of index entries
    rather than thousands of table rows.
    `count_cap`, when given, stops the count there: `total` is then at most the
    cap and `more` says whether rows lie past it.
    `materialized`, with a key: the matching rows' keys and order columns are
    gathered first, in a MATERIALIZED CTE (as the filters' indexes give them),
    and the page is sorted from those: for filters whose indexes find few
    rows that an ordering index would find only after a long walk."""

    more = False

    def _query_items(self) -> list[Any]:
        select: sa.Select = self._query_args["select"]
        order_by = self._query_args["order_by"]
        key: sa.Column | None = self._query_args.get("key")
        if key is None:
            page = (
                select.order_by(*order_by)
                .limit(sql_literal(self.per_page))
                .offset(sql_literal(self._query_offset))
            )
        else:
            # The filters run once, in the keys' subquery; the outer query
            # reads the rows of those keys only.
            if self._query_args.get("materialized"):
                keys = self._materialized_keys(select, key, order_by)
            else:
                keys = select.with_only_columns(key).order_by(*order_by)
            keys = (
                keys.limit(sql_literal(self.per_page))
                .offset(sql_literal(self._query_offset))
                .subquery("page_keys")
            )
            page = (
                sa.select(*select.selected_columns)
                .join_from(key.table, keys, key == keys.c[key.name])
                .order_by(*order_by)
            )
        return list(db.session.execute(page))

    @staticmethod
    def _materialized_keys(
        select: sa.Select, key: sa.Column, order_by: tuple[sa.ColumnElement, ...]
    ) -> sa.Select:
        """The keys, ordered, from a CTE of every matching row's key and order
        columns: no table row is read again until the page's own."""
        ordering = {
            c.key: c
            for clause in order_by
            for c in iterate(clause)
            if isinstance(c, sa.Column)
        }
        ordering.setdefault(key.key, key)
        matches = materialized(select.with_only_columns(*ordering.values()), "matches")
        adapt = ClauseAdapter(matches).traverse
        return sa.select(matches.c[key.key]).order_by(*map(adapt, order_by))

    def _query_count(self) -> int:
        total = self._query_args.get("total")
        if total is None:
            count_select = self._query_args.get("count_select")
            if count_select is None:
                select: sa.Select = self._query_args["select"]
                count_select = sa.select(sa.func.count()).select_from(
                    select.order_by(None).subquery()
                )
            total = db.session.scalar(count_select) or 0
        cap = self._query_args.get("count_cap")
        if cap is not None and total > cap:
            self.more = True
            return cap
        return total


def paginate_rows(
    select: sa.Select,
    page: int,
    per_page: int,
    count_select: sa.Select | None = None,
    *,
    total: int | None = None,
    order_by: tuple[sa.ColumnElement, ...] = (),
    key: sa.Column | None = None,
    count_cap: int | None = None,
    materialized: bool = False,
    error_out: bool = True,
) -> RowPagination:
    if key is not None and not order_by:
        raise ValueError("paginate_rows: a key needs its order_by (the outer query's)")
    return RowPagination(
        select=select,
        order_by=order_by,
        count_select=count_select,
        total=total,
        key=key,
        count_cap=count_cap,
        materialized=materialized,
        page=page,
        per_page=per_page,
        max_per_page=None,
        error_out=error_out,
    )
