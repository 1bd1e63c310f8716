"""Admin pages for users: the customer list (/users/)."""

from flask import render_template

from app.auth import admin_required
from app.users import bp


@bp.get("/")
@admin_required
def index():
    """Every customer with purchase count and total spent."""
    return render_template("users/index.html")
