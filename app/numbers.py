"""Whole numbers typed by clients: digits are checked before anything converts them.

Every count or id that arrives as text (a form field, a query-string filter,
a CSV cell) goes through `parse_whole_number` or `whole_number_or_none`, so a
sign, a fraction, an exponent, another script's digits or a number hundreds
of digits long is a clear refusal, never an OverflowError or a database error.
"""

from __future__ import annotations

import re

from app.limits import MAX_DIGITS

WHOLE_RE = re.compile(rf"\d{{1,{MAX_DIGITS}}}", re.ASCII)


def whole_number_or_none(text: str | None) -> int | None:
    """Plain ASCII digits (at most MAX_DIGITS of them) as an int, else None."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if WHOLE_RE.fullmatch(text) else None


def parse_whole_number(
    text: str, maximum: int, minimum: int = 0, message: str | None = None
) -> int:
    """Plain digits as an int from `minimum` to `maximum`; ValueError says what
    is wrong (`message` replaces the default wording of every refusal)."""
    number = whole_number_or_none(text)
    if number is None:
        raise ValueError(
            message or f"Enter a whole number, {minimum} or more (like 12)."
        )
    if number < minimum or number > maximum:
        raise ValueError(
            message
            or (
                f"Enter at most {maximum:,}."
                if number > maximum
                else f"Enter {minimum:,} or more."
            )
        )
    return number
