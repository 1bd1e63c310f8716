"""Money: integer cents end to end, read from text exactly, written one way.

`parse_amount` reads what a form or a CSV cell holds ("12.50") into cents with
no float anywhere; `money` and `cents_to_decimal_text` write cents for pages
and files. A line's total in SQL is `UserItem.total_cents` (app/models.py).
"""

from __future__ import annotations

import re
from decimal import Decimal

from app.limits import MAX_DIGITS, PRICE_MAX_CENTS

# ASCII digits only: no exponents, signs, NaN/Infinity, underscores or other scripts.
AMOUNT_RE = re.compile(rf"(\d{{1,{MAX_DIGITS}}})(?:\.(\d{{1,2}}))?", re.ASCII)


def parse_amount(
    text: str, max_cents: int = PRICE_MAX_CENTS, too_much: str | None = None
) -> int:
    """`12.50` as integer cents, exactly: Decimal, never a float; at most two
    decimals (more is an error, not rounded). ValueError says what is wrong;
    `too_much` words the refusal of an amount past `max_cents`."""
    if not AMOUNT_RE.fullmatch(text):
        raise ValueError(
            "Enter an amount like 12.50: digits, with at most two decimals."
        )
    cents = int(Decimal(text) * 100)
    if cents > max_cents:
        raise ValueError(
            too_much
            or f"The most an item can cost is {cents_to_decimal_text(max_cents)}."
        )
    return cents


def money(cents: int | None) -> str:
    """Integer cents as dollars: 1250 -> "$12.50", 123456 -> "$1,234.56"."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def cents_to_decimal_text(cents: int | None) -> str:
    """Integer cents as the text an amount field shows: 1250 -> "12.50"."""
    if cents is None:
        return ""
    dollars, rest = divmod(int(cents), 100)
    return f"{dollars}.{rest:02d}"
