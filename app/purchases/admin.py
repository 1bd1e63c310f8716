"""Admin views of purchases: every line, filters, sales summary, CSV."""

from flask import render_template


def all_purchases():
    """`/purchases/` as an admin sees it (called from purchases.index)."""
    return render_template("purchases/admin_index.html")
