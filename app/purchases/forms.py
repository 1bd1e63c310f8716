"""Cart and checkout forms (the cart-add form the item page draws is in app/forms.py)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import Regexp

from app.forms import quantity_field


class CartUpdateForm(FlaskForm):
    """Change a cart line's quantity."""

    quantity = quantity_field()


class CheckoutForm(FlaskForm):
    """Buy the whole cart; the token makes a double-submitted checkout harmless."""

    token = HiddenField(validators=[Regexp(r"^[A-Za-z0-9_-]{1,64}$")])
