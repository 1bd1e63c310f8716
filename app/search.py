"""Searching lists: the `?q=` text and LIKE patterns, shared by the catalogue and admin lists."""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from flask import request

from app.limits import MAX_QUERY_LENGTH


def search_text(name: str = "q") -> str:
    """`?q=` without control characters (they match no name, and PostgreSQL
    refuses NUL in text), trimmed and capped at MAX_QUERY_LENGTH characters."""
    text = request.args.get(name, "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return text.strip()[:MAX_QUERY_LENGTH]


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken
    literally (use it with `escape="\\\\"`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: sa.ColumnElement[str], text: str) -> sa.ColumnElement[bool]:
    """`column` contains `text`, in any case, wildcards taken literally."""
    return column.ilike(like_pattern(text), escape="\\")
