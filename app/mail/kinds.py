"""The kinds of email the store sends, and the outbox's statuses.

The database holds both lists (CHECKs on outbox.kind and outbox.status).
"""

from __future__ import annotations

ORDER_PLACED = "order_placed"
ORDER_PAID = "order_paid"
ORDER_SHIPPED = "order_shipped"
ORDER_CANCELLED = "order_cancelled"
ORDER_REFUNDED = "order_refunded"
PASSWORD_RESET = "password_reset"
PASSWORD_CHANGED = "password_changed"
EMAIL_CHANGE = "email_change"
EMAIL_CHANGED = "email_changed"
ACCOUNT_EXISTS = "account_exists"
BACK_IN_STOCK = "back_in_stock"

KINDS = (
    ORDER_PLACED,
    ORDER_PAID,
    ORDER_SHIPPED,
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    PASSWORD_RESET,
    PASSWORD_CHANGED,
    EMAIL_CHANGE,
    EMAIL_CHANGED,
    ACCOUNT_EXISTS,
    BACK_IN_STOCK,
)
ORDER_KINDS = (ORDER_PLACED, ORDER_PAID, ORDER_SHIPPED, ORDER_CANCELLED, ORDER_REFUNDED)
# Emails that carry a link that acts for the account: their bodies are
# blanked once sent, so the outbox never holds a working link for long.
LINK_KINDS = (PASSWORD_RESET, EMAIL_CHANGE)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENT, FAILED)

LABELS = {
    ORDER_PLACED: "Order placed",
    ORDER_PAID: "Order paid",
    ORDER_SHIPPED: "Order shipped",
    ORDER_CANCELLED: "Order cancelled",
    ORDER_REFUNDED: "Order refunded",
    PASSWORD_RESET: "Password reset",
    PASSWORD_CHANGED: "Password changed",
    EMAIL_CHANGE: "Confirm new email",
    EMAIL_CHANGED: "Email changed",
    ACCOUNT_EXISTS: "Sign-up with a taken email",
    BACK_IN_STOCK: "Back in stock",
}
