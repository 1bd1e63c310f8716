"""The checkout page (/purchases/checkout): address, delivery, payment, summary.

GET draws the page from the cart and the shop's current prices; POST places
the order through app/orders/placing.py, at the prices the page showed or not
at all. The page records what it showed in hidden fields (each item's price,
each delivery price, the tax rate): if any changed, or the stock no longer
covers a line, the page comes back saying what changed and nothing is bought.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.models import Address, Order
from app.orders import payments
from app.orders.placing import place
from app.orders.pricing import format_rate, shipping_methods, shop_settings, totals
from app.purchases import bp, cart
from app.purchases.forms import TOKEN_RE, CheckoutForm, quote_fields


@bp.route("/checkout", methods=["GET", "POST"])
def checkout():
    """One page to check out; POST places the order and goes to its page."""
    if not current_user.is_authenticated:
        flash("Please sign in to check out. Your cart is kept.", "info")
        return redirect(url_for("users.login", next=url_for("purchases.checkout")))
    form = CheckoutForm()
    posted = request.method == "POST" and "seen_prices" in request.form
    token = form.token.data if posted else None
    # Before anything reads the cart: a second press of Place order lands on
    # the order it placed, and the token is compared before cart.lines() can
    # drop an archived line (which gives the cart a new token).
    if token and (placed := _order_for_token(token)):
        cart.clear()
        flash("This order was already placed.", "info")
        return redirect(url_for("purchases.order", number=placed))
    token_matches = bool(token) and token == cart.checkout_token()
    if not cart.quantities():
        flash("Your cart is empty.", "info")
        return redirect(url_for("purchases.cart"))
    page = _Page(form)
    if not posted:
        # A GET, or a POST without the page's own fields (the cart's old
        # one-button form): the page to check, nothing bought.
        return page.render()
    if not form.validate():
        return page.render(422)
    if not token_matches:
        flash(
            "Your cart changed since you opened this page: check it again.", "warning"
        )
        return page.render(409, fresh=True)
    quote = form.quote()
    if quote is None:
        flash("Check your order below, then place it.", "warning")
        return page.render(409, fresh=True)

    try:
        result = place(
            user_id=current_user.id,
            email=current_user.email,
            token=token,
            wanted=cart.quantities(),
            quote=quote,
            address=form.address(),
            shipping_code=form.shipping.data,
            payment_method=form.payment.data,
            save_address=form.save_address.data and not form.address_id.data,
        )
    except sa.exc.IntegrityError:
        db.session.rollback()
        if placed := _order_for_token(token):
            cart.clear()
            flash("This order was already placed.", "info")
            return redirect(url_for("purchases.order", number=placed))
        if _token_taken(token):
            # Another account's order holds this token (a cookie planted
            # before sign-in, a shared browser): a stale cart, given a token
            # of its own and shown again; nothing was bought.
            cart.save(cart.quantities())
            flash(
                "Your cart changed since you opened this page: check it again.",
                "warning",
            )
            return page.render(409, fresh=True)
        raise
    except sa.exc.OperationalError:
        db.session.rollback()
        flash(
            "The store is very busy right now; nothing was bought. Please try again.",
            "error",
        )
        return page.render(503, fresh=True)
    if result.problems:
        page.problems = result.problems
        return page.render(409, fresh=True)
    cart.clear()
    if payments.has_step(form.payment.data):
        flash(f"Your order {result.number} is placed: now pay by card.", "success")
        return redirect(url_for("purchases.card_step", number=result.number))
    flash(f"Thank you! Your order {result.number} is placed.", "success")
    return redirect(url_for("purchases.order", number=result.number))


class _Page:
    """The checkout page for this cart, drawn with the shop's current prices."""

    def __init__(self, form: CheckoutForm) -> None:
        self.form, self.problems = form, []
        self.methods = shipping_methods()
        self.settings = shop_settings()
        self.addresses = db.session.scalars(
            sa.select(Address)
            .where(Address.user_id == current_user.id)
            .order_by(Address.id.desc())
        ).all()
        form.offer(self.methods, self.addresses, payments.offered())

    def render(self, status: int = 200, fresh: bool = False):
        """The page; `fresh` redraws what it shows (prices, the cart's token)
        so the next POST is checked against today's figures."""
        form, lines = self.form, cart.lines()
        if fresh or not form.is_submitted() or "seen_prices" not in request.form:
            form.token.data = cart.checkout_token()
            for name, value in quote_fields(
                lines, self.methods, self.settings.tax_rate_bp
            ).items():
                form[name].data = value
        if not form.is_submitted():
            form.name.data = form.name.data or current_user.name
            if self.addresses and not form.address_id.data:
                form.address_id.data = str(self.addresses[0].id)
        if form.shipping.data is None and self.methods:
            form.shipping.data = self.methods[0].code
        if form.payment.data is None and form.payment.choices:
            form.payment.data = form.payment.choices[0].value
        subtotal = sum(line.total_cents for line in lines)
        rate = self.settings.tax_rate_bp
        return render_template(
            "purchases/checkout.html",
            form=form,
            lines=lines,
            problems=self.problems,
            subtotal_cents=subtotal,
            options=[(m, totals(subtotal, m, rate)) for m in self.methods],
            tax_rate=format_rate(rate),
            short=[line for line in lines if line.short],
        ), status


def _order_for_token(token: str) -> str | None:
    if not TOKEN_RE.fullmatch(token):  # no cart's token looks like this
        return None
    return db.session.scalar(
        sa.select(Order.number).where(
            Order.token == token, Order.user_id == current_user.id
        )
    )


def _token_taken(token: str) -> bool:
    """Whether any order, whoever placed it, holds this checkout token."""
    return (
        db.session.scalar(sa.select(Order.id).where(Order.token == token)) is not None
    )
