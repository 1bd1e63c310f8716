"""Cart, checkout and purchase history (/purchases/...)."""

from flask import render_template

from app.purchases import bp


@bp.get("/")
def index():
    return render_template("items/index.html")


@bp.get("/cart")
def cart():
    return render_template("items/index.html")
