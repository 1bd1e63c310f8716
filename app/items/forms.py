"""The admin's item form: exact prices in cents, whole-number stock."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import HiddenInput, NumberInput

from app.forms import AmountField, NoControlCharacters, WholeNumberField, strip
from app.limits import (
    DESCRIPTION_MAX,
    ITEM_NAME_MAX,
    RATING_MAX,
    RATING_MIN,
    REVIEW_BODY_MAX,
    REVIEW_TITLE_MAX,
    STOCK_MAX,
)
from app.numbers import whole_number_or_none

# Messages shared by the item form and the CSV import (app/items/csv_io.py).
NAME_REQUIRED = "Give the item a name."
NAME_LENGTH = f"Use 1 to {ITEM_NAME_MAX} characters for the name."
DESCRIPTION_LENGTH = f"Keep the description under {DESCRIPTION_MAX:,} characters."
PRICE_REQUIRED = "Enter a price, like 12.50."
STOCK_REQUIRED = "Enter how many are in stock."


class SeenStockField(Field):
    """A hidden whole number; anything else means "unknown", never a form error."""

    widget = HiddenInput()

    def _value(self) -> str:
        return str(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = whole_number_or_none(valuelist[0] if valuelist else None)


class ItemForm(FlaskForm):
    """Add or edit an item (field names are part of the published contract)."""

    name = StringField(
        "Name",
        filters=[strip],
        validators=[
            InputRequired(NAME_REQUIRED),
            Length(min=1, max=ITEM_NAME_MAX, message=NAME_LENGTH),
            NoControlCharacters(),
        ],
    )
    description = TextAreaField(
        "Description",
        filters=[strip],
        validators=[
            Optional(),
            Length(max=DESCRIPTION_MAX, message=DESCRIPTION_LENGTH),
            NoControlCharacters(allow="\r\n\t"),
        ],
        render_kw={"rows": 6},
    )
    price = AmountField("Price ($)", validators=[InputRequired(PRICE_REQUIRED)])
    stock = WholeNumberField(
        "Stock", validators=[InputRequired(STOCK_REQUIRED)], maximum=STOCK_MAX
    )
    # The stock the admin saw when the form was drawn: if a checkout changes it
    # meanwhile, saving must not silently overwrite the sale (see items.edit).
    stock_seen = SeenStockField()


RATING_MESSAGE = f"Choose a rating from {RATING_MIN} to {RATING_MAX} stars."
TITLE_LENGTH = f"Give your review a title of 1 to {REVIEW_TITLE_MAX} characters."
BODY_LENGTH = f"Write your review in 1 to {REVIEW_BODY_MAX:,} characters."


class ReviewForm(FlaskForm):
    """A buyer's review of an item: written once, then edited with this same form."""

    rating = WholeNumberField(
        "Rating",
        validators=[InputRequired(RATING_MESSAGE)],
        minimum=RATING_MIN,
        maximum=RATING_MAX,
        message=RATING_MESSAGE,
        widget=NumberInput(min=RATING_MIN, max=RATING_MAX),
        render_kw={},
    )
    title = StringField(
        "Title",
        validators=[
            InputRequired(TITLE_LENGTH),
            Length(min=1, max=REVIEW_TITLE_MAX, message=TITLE_LENGTH),
            NoControlCharacters(),
        ],
        filters=[strip],
    )
    body = TextAreaField(
        "Your review",
        validators=[
            InputRequired(BODY_LENGTH),
            Length(min=1, max=REVIEW_BODY_MAX, message=BODY_LENGTH),
            NoControlCharacters(allow="\r\n\t"),
        ],
        filters=[strip],
    )
