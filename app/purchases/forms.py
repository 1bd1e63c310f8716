"""Cart and checkout forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired, NumberRange, Regexp

from app.models import MAX_ID

MAX_QUANTITY = 1_000


class CartAddForm(FlaskForm):
    """Add `quantity` of `item_id` to the cart (the stock check needs the item)."""

    item_id = IntegerField(
        "Item", validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)]
    )
    quantity = IntegerField(
        "Quantity",
        validators=[
            InputRequired("Enter how many you want."),
            NumberRange(
                min=1, max=MAX_QUANTITY, message="Choose between 1 and %(max)s."
            ),
        ],
    )


class CartUpdateForm(FlaskForm):
    """Change a cart line's quantity."""

    quantity = IntegerField(
        "Quantity",
        validators=[
            InputRequired("Enter how many you want."),
            NumberRange(
                min=1, max=MAX_QUANTITY, message="Choose between 1 and %(max)s."
            ),
        ],
    )


class CheckoutForm(FlaskForm):
    """Buy the whole cart; the token makes a double-submitted checkout harmless."""

    token = HiddenField(validators=[Regexp(r"^[A-Za-z0-9_-]{1,64}$")])
