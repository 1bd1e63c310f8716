"""Admin pages for items: add, edit, archive, restore, buyers (/items/...)."""

from flask import render_template

from app.auth import admin_required
from app.items import bp


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    """Add an item."""
    return render_template("items/form.html")


def buyers_page(item_id: int, page: int):
    """The item's purchase lines with their buyers, for the admin's item page."""
    return None
