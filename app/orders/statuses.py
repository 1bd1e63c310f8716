"""An order's statuses and the only moves between them.

The database holds the list (a CHECK on orders.status) and every move is one
conditional UPDATE on the current status (app/orders/lifecycle.py), so a move
this table does not allow, or one that lost a race, changes nothing.
"""

from __future__ import annotations

PENDING_PAYMENT = "pending_payment"
PAID = "paid"
SHIPPED = "shipped"
DELIVERED = "delivered"
CANCELLED = "cancelled"
REFUNDED = "refunded"

STATUSES = (PENDING_PAYMENT, PAID, SHIPPED, DELIVERED, CANCELLED, REFUNDED)

MOVES: dict[str, tuple[str, ...]] = {
    PENDING_PAYMENT: (PAID, CANCELLED),
    PAID: (SHIPPED, CANCELLED, REFUNDED),
    SHIPPED: (DELIVERED, REFUNDED),
    DELIVERED: (REFUNDED,),
    CANCELLED: (),
    REFUNDED: (),
}

# An order in one of these no longer counts as a purchase: its lines stay in
# the history but leave user.items, item.users, recommendations and the
# running sales totals (a trigger of migration 0007 flips user_items.counted).
NOT_COUNTED = (CANCELLED, REFUNDED)
# Money can be refunded while the shop holds it.
REFUNDABLE = (PAID, SHIPPED, DELIVERED)
# The shopper may cancel while nothing has left the shop.
SHOPPER_CANCELLABLE = (PENDING_PAYMENT, PAID)

LABELS = {
    PENDING_PAYMENT: "Awaiting payment",
    PAID: "Paid",
    SHIPPED: "Shipped",
    DELIVERED: "Delivered",
    CANCELLED: "Cancelled",
    REFUNDED: "Refunded",
}
# What an admin's button says for each move.
ACTIONS = {
    PAID: "Mark paid",
    SHIPPED: "Mark shipped",
    DELIVERED: "Mark delivered",
    CANCELLED: "Cancel order",
    REFUNDED: "Refund in full",
}


def sources_of(status: str) -> tuple[str, ...]:
    """The statuses an order may move to `status` from."""
    return tuple(source for source, targets in MOVES.items() if status in targets)


def sql_list(statuses: tuple[str, ...]) -> str:
    """The statuses as an SQL list of literals, for CHECKs and triggers."""
    return ", ".join(f"'{status}'" for status in statuses)
