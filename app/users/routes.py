"""Accounts (/users/...)."""

from flask import render_template

from app.users import bp


@bp.get("/<int:user_id>")
def detail(user_id: int):
    return render_template("items/index.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    return render_template("items/index.html")


@bp.route("/register", methods=["GET", "POST"])
def register():
    return render_template("items/index.html")


@bp.post("/logout")
def logout():
    return render_template("items/index.html")
