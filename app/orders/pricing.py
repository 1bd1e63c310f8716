"""What an order costs: the lines at their prices, shipping and tax on top.

Prices are before tax. `tax_cents` is the shop's rate (basis points) on the
subtotal, rounded half up; shipping is the chosen method's price, nothing
when the subtotal reaches the method's free-over amount.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import ShippingMethod, ShopSettings


@dataclass(frozen=True)
class Totals:
    subtotal_cents: int
    shipping_cents: int
    tax_cents: int
    tax_rate_bp: int

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.shipping_cents + self.tax_cents


def tax_on(subtotal_cents: int, rate_bp: int) -> int:
    """`rate_bp` basis points of `subtotal_cents`, rounded half up (exact integers)."""
    return (subtotal_cents * rate_bp + 5_000) // 10_000


def totals(subtotal_cents: int, method: ShippingMethod, rate_bp: int) -> Totals:
    return Totals(
        subtotal_cents=subtotal_cents,
        shipping_cents=method.price_for(subtotal_cents),
        tax_cents=tax_on(subtotal_cents, rate_bp),
        tax_rate_bp=rate_bp,
    )


def shop_settings() -> ShopSettings:
    """The shop's one settings row (migration 0007 writes it)."""
    settings = db.session.get(ShopSettings, 1)
    if settings is None:  # a database emptied by hand: the defaults again
        settings = ShopSettings(id=1, tax_rate_bp=0, bank_transfer_details="")
        db.session.add(settings)
        db.session.flush()
    return settings


def shipping_methods() -> list[ShippingMethod]:
    """The methods offered at checkout, in the shop's order."""
    return list(
        db.session.scalars(
            sa.select(ShippingMethod)
            .where(ShippingMethod.is_active)
            .order_by(ShippingMethod.position, ShippingMethod.id)
        )
    )


def format_rate(rate_bp: int) -> str:
    """825 -> "8.25%", 2000 -> "20%"."""
    whole, rest = divmod(rate_bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"
