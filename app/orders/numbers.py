"""Order numbers: random, unique, and revealing nothing about other orders.

Ten characters from 32 letters and digits (no 0/O or 1/I to misread on a
phone call) is 2**50 numbers: a collision is rare, and the unique key on
orders.number turns one into a retry (app/orders/placing.py) rather than a
second order with the same number.
"""

from __future__ import annotations

import re
import secrets

from app.limits import ORDER_NUMBER_LENGTH, ORDER_NUMBER_MAX

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# What a number typed or linked may look like (any case; compared upper-cased).
NUMBER_RE = re.compile(rf"[A-Za-z0-9]{{8,{ORDER_NUMBER_MAX}}}", re.ASCII)


def new_number() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))


def normalize(text: str | None) -> str | None:
    """A number as typed (any case, spaces around) in its stored form, or None
    when it cannot be an order number."""
    text = (text or "").strip()
    return text.upper() if NUMBER_RE.fullmatch(text) else None
