"""The admin's item form: exact prices in cents, whole-number stock."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import Field, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import HiddenInput, TextInput

from app.templating import cents_to_decimal_text

NAME_MAX = 200
DESCRIPTION_MAX = 5_000
PRICE_MAX_CENTS = 100_000_000  # $1,000,000.00
STOCK_MAX = 1_000_000

# ASCII digits only: no exponents, signs, NaN/Infinity, underscores or other scripts.
AMOUNT_RE = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?", re.ASCII)
WHOLE_RE = re.compile(r"\d{1,12}", re.ASCII)

# Messages shared by the item form and the CSV import (app/items/csv_io.py).
NAME_REQUIRED = "Give the item a name."
NAME_LENGTH = f"Use 1 to {NAME_MAX} characters for the name."
DESCRIPTION_LENGTH = f"Keep the description under {DESCRIPTION_MAX:,} characters."
PRICE_REQUIRED = "Enter a price, like 12.50."
STOCK_REQUIRED = "Enter how many are in stock."
CONTROL_CHARACTERS = "Remove the control characters from this text."


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def parse_amount(text: str, max_cents: int = PRICE_MAX_CENTS) -> int:
    """`12.50` as integer cents, exactly: Decimal, never a float; at most two
    decimals (more is an error, not rounded). ValueError says what is wrong."""
    if not AMOUNT_RE.fullmatch(text):
        raise ValueError(
            "Enter an amount like 12.50: digits, with at most two decimals."
        )
    cents = int(Decimal(text) * 100)
    if cents > max_cents:
        raise ValueError(
            f"The most an item can cost is {cents_to_decimal_text(max_cents)}."
        )
    return cents


def parse_whole_number(text: str, maximum: int = STOCK_MAX) -> int:
    """Plain digits as an int, 0 to `maximum`; ValueError says what is wrong."""
    if not WHOLE_RE.fullmatch(text):
        raise ValueError("Enter a whole number, 0 or more (like 12).")
    number = int(text)
    if number > maximum:
        raise ValueError(f"Enter at most {maximum:,}.")
    return number


def has_control_characters(text: str, allow: str = "") -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in allow for ch in text)


class AmountField(Field):
    """A money amount typed as `12.50`; `data` is integer cents, never a float."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, max_cents=PRICE_MAX_CENTS, **kw):
        kw.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kw)
        self.max_cents = max_cents

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return cents_to_decimal_text(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            if valuelist and valuelist[0]:  # only spaces: InputRequired lets it by
                raise ValueError("Enter an amount, like 12.50.")
            return
        self.data = parse_amount(text, self.max_cents)


class WholeNumberField(Field):
    """A count typed as plain digits (`1.5`, `-1`, `1e3`, `1_000` are refused)."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, maximum=STOCK_MAX, **kw):
        kw.setdefault("render_kw", {"inputmode": "numeric", "autocomplete": "off"})
        super().__init__(label, validators, **kw)
        self.maximum = maximum

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return str(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            if valuelist and valuelist[0]:  # only spaces: InputRequired lets it by
                raise ValueError("Enter a whole number, 0 or more (like 12).")
            return
        self.data = parse_whole_number(text, self.maximum)


class SeenStockField(Field):
    """A hidden whole number; anything else means "unknown", never a form error."""

    widget = HiddenInput()

    def _value(self) -> str:
        return str(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0].strip() if valuelist else ""
        self.data = int(text) if WHOLE_RE.fullmatch(text) else None


class NoControlCharacters:
    """Refuse control characters (PostgreSQL rejects NUL; none belong in a name)."""

    def __init__(self, allow: str = "") -> None:
        self.allow = allow

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if has_control_characters(field.data or "", self.allow):
            raise ValidationError(CONTROL_CHARACTERS)


class ItemForm(FlaskForm):
    """Add or edit an item (field names are part of the published contract)."""

    name = StringField(
        "Name",
        filters=[_strip],
        validators=[
            InputRequired(NAME_REQUIRED),
            Length(min=1, max=NAME_MAX, message=NAME_LENGTH),
            NoControlCharacters(),
        ],
    )
    description = TextAreaField(
        "Description",
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=DESCRIPTION_MAX, message=DESCRIPTION_LENGTH),
            NoControlCharacters(allow="\r\n\t"),
        ],
        render_kw={"rows": 6},
    )
    price = AmountField("Price ($)", validators=[InputRequired(PRICE_REQUIRED)])
    stock = WholeNumberField("Stock", validators=[InputRequired(STOCK_REQUIRED)])
    # The stock the admin saw when the form was drawn: if a checkout changes it
    # meanwhile, saving must not silently overwrite the sale (see items.edit).
    stock_seen = SeenStockField()
