"""The payment methods' codes and names (app/orders/payments.py does the rest):
a leaf module, so the emails can name a method without importing payments."""

from __future__ import annotations

BANK_TRANSFER = "bank_transfer"
CARD = "card"
NAMES = {BANK_TRANSFER: "Bank transfer", CARD: "Card"}
