"""The admin's item form: exact prices in cents, whole-number stock."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import Field, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp
from wtforms.widgets import HiddenInput, NumberInput

from app.forms import AmountField, NoControlCharacters, WholeNumberField, strip
from app.limits import (
    CATEGORY_NAME_MAX,
    CATEGORY_SLUG_MAX,
    DESCRIPTION_MAX,
    IMAGE_ALT_MAX,
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


class ChoiceOfId(SelectField):
    """A select of ids as text, "" for none: an object's None (no category)
    is the "" option, not a choice missing from the list."""

    def process_data(self, value) -> None:
        self.data = "" if value is None else str(value)


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
    # A select of the categories ("" for none); the view fills its choices.
    # A POST without the field leaves the item's category as it is.
    category_id = ChoiceOfId("Category", choices=[SelectChoice("", "No category")])
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


def category_choices(rows, blank: str = "No category") -> list[SelectChoice]:
    """The select's options from (id, name, depth) rows in tree order: ""
    (`blank`) for none, then each category indented under its parent."""
    return [SelectChoice("", blank)] + [
        SelectChoice(str(row.id), INDENT * row.depth + row.name) for row in rows
    ]


class ImageForm(FlaskForm):
    """Add one picture to an item (field names are part of the contract)."""

    image = FileField("Picture")
    alt = StringField(
        "Description for screen readers (alt text)",
        filters=[strip],
        validators=[
            Optional(),
            Length(
                max=IMAGE_ALT_MAX,
                message=f"Keep the alt text under {IMAGE_ALT_MAX} characters.",
            ),
            NoControlCharacters(),
        ],
    )


INDENT = "\u2003"  # an em space a level: the tree's shape inside a <select>
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class CategoryForm(FlaskForm):
    """Add a category (fields `name`, `parent_id`, optional `slug`)."""

    name = StringField(
        "Name",
        filters=[strip],
        validators=[
            InputRequired("Give the category a name."),
            Length(
                min=1,
                max=CATEGORY_NAME_MAX,
                message=f"Use 1 to {CATEGORY_NAME_MAX} characters for the name.",
            ),
            NoControlCharacters(),
        ],
    )
    parent_id = ChoiceOfId("Inside", choices=[SelectChoice("", "Top level")])
    slug = StringField(
        "Address (slug)",
        filters=[strip, lambda s: s.lower() if isinstance(s, str) else s],
        validators=[
            Optional(),
            Length(
                max=CATEGORY_SLUG_MAX - 4,
                message=f"Keep the slug under {CATEGORY_SLUG_MAX - 4} characters.",
            ),
            Regexp(
                SLUG_PATTERN,
                message="Use lower-case letters, digits and single hyphens.",
            ),
        ],
    )


class CategoryMoveForm(FlaskForm):
    """Put a category under another (or at the top level)."""

    parent_id = ChoiceOfId("Move inside", choices=[SelectChoice("", "Top level")])
