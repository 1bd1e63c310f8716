"""The ways a shopper can pay. Bank transfer is always offered: the order
waits in `pending_payment` until an admin marks it paid, and the order page
shows the shop's transfer details with the order number as the reference."""

from __future__ import annotations

BANK_TRANSFER = "bank_transfer"
NAMES = {BANK_TRANSFER: "Bank transfer"}


def offered() -> list[tuple[str, str]]:
    """(code, name) of each method this store takes."""
    return [(BANK_TRANSFER, NAMES[BANK_TRANSFER])]
