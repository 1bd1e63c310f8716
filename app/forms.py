"""Form pieces several features share: fields that read numbers safely, text
filters, and the cart-add form the item page shows.

Every number a client types reaches Python through `WholeNumberField` or
`AmountField`: digits are checked before anything converts them, so no input,
however long, is an OverflowError (WTForms' IntegerField with NumberRange
raises one past about 309 digits).
"""

from __future__ import annotations

import unicodedata

from flask_wtf import FlaskForm
from wtforms import Field, ValidationError
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput, NumberInput, TextInput

from app.limits import MAX_ID, MAX_QUANTITY, PRICE_MAX_CENTS, TAX_RATE_MAX_BP
from app.money import cents_to_decimal_text, parse_amount
from app.numbers import parse_whole_number

CONTROL_CHARACTERS = (
    "Remove the control characters from this text "
    "(invisible ones too: bidirectional and zero-width marks)."
)
# Unicode's control (Cc) and format (Cf) characters: NUL and line breaks, and
# the invisible marks (right-to-left overrides, zero-width spaces and joiners)
# that make a name display as something else in an admin's list.
HIDDEN_CATEGORIES = ("Cc", "Cf")


def strip(value: str | None) -> str | None:
    """A text filter: surrounding spaces removed."""
    return value.strip() if isinstance(value, str) else value


def without_control_characters(value: str | None) -> str | None:
    """A text filter: trimmed, with control characters dropped (PostgreSQL
    refuses NUL in text), for fields where silently dropping them is kind."""
    if not isinstance(value, str):
        return value
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cc").strip()


def has_control_characters(text: str, allow: str = "") -> bool:
    """Whether `text` holds a control or invisible format character (Cc, Cf)
    other than those in `allow`."""
    return any(
        unicodedata.category(ch) in HIDDEN_CATEGORIES and ch not in allow for ch in text
    )


class NoControlCharacters:
    """Refuse control and invisible format characters (PostgreSQL rejects NUL;
    none belong in a name, and bidirectional marks disguise one)."""

    def __init__(self, allow: str = "") -> None:
        self.allow = allow

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if has_control_characters(field.data or "", self.allow):
            raise ValidationError(CONTROL_CHARACTERS)


class _TypedTextField(Field):
    """A text box whose text is parsed into `data`; the typed text is shown back."""

    widget = TextInput()
    blank_message = "Enter a value."

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self._format(self.data) if self.data is not None else ""

    def _format(self, data) -> str:
        return str(data)

    def _parse(self, text: str):
        raise NotImplementedError

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            if valuelist and valuelist[0]:  # only spaces: InputRequired lets it by
                raise ValueError(self.blank_message)
            return
        self.data = self._parse(text)


class AmountField(_TypedTextField):
    """A money amount typed as `12.50`; `data` is integer cents, never a float."""

    blank_message = "Enter an amount, like 12.50."

    def __init__(
        self,
        label=None,
        validators=None,
        max_cents=PRICE_MAX_CENTS,
        too_much: str | None = None,
        **kw,
    ):
        kw.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kw)
        self.max_cents, self.too_much = max_cents, too_much

    def _format(self, data) -> str:
        return cents_to_decimal_text(data)

    def _parse(self, text: str) -> int:
        return parse_amount(text, self.max_cents, self.too_much)


class PercentField(_TypedTextField):
    """A rate typed as a percentage like `8.25`; `data` is basis points (825)."""

    blank_message = "Enter a percentage, like 8.25."

    def __init__(self, label=None, validators=None, **kw):
        kw.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kw)

    def _format(self, data) -> str:
        return cents_to_decimal_text(data)

    def _parse(self, text: str) -> int:
        try:
            points = parse_amount(text.removesuffix("%").strip(), TAX_RATE_MAX_BP)
        except ValueError:
            raise ValueError(
                "Enter a percentage from 0 to 100 with at most two decimals, like 8.25."
            ) from None
        return points


class WholeNumberField(_TypedTextField):
    """A count typed as plain digits, `minimum` to `maximum` (`1.5`, `-1`, `1e3`,
    `1_000`, other scripts' digits and 300-digit numbers are refused with
    `message`, or with a message naming the bounds)."""

    def __init__(
        self,
        label=None,
        validators=None,
        *,
        maximum: int,
        minimum: int = 0,
        message: str | None = None,
        **kw,
    ):
        kw.setdefault("render_kw", {"inputmode": "numeric", "autocomplete": "off"})
        super().__init__(label, validators, **kw)
        self.minimum, self.maximum, self.message = minimum, maximum, message
        self.blank_message = message or (
            f"Enter a whole number, {minimum} or more (like 12)."
        )

    def _parse(self, text: str) -> int:
        return parse_whole_number(text, self.maximum, self.minimum, self.message)


class IdField(WholeNumberField):
    """A row's id sent back by a form (hidden): 1 to MAX_ID."""

    widget = HiddenInput()

    def __init__(self, label=None, validators=None, **kw):
        super().__init__(
            label, validators, minimum=1, maximum=MAX_ID, message="Unknown id.", **kw
        )


QUANTITY_MESSAGE = f"Choose between 1 and {MAX_QUANTITY:,}."


def quantity_field() -> WholeNumberField:
    """How many of an item a shopper wants: 1 to MAX_QUANTITY."""
    return WholeNumberField(
        "Quantity",
        validators=[InputRequired("Enter how many you want.")],
        minimum=1,
        maximum=MAX_QUANTITY,
        message=QUANTITY_MESSAGE,
        widget=NumberInput(min=1, max=MAX_QUANTITY),
        render_kw={},
    )


class CartAddForm(FlaskForm):
    """Add `quantity` of `item_id` to the cart: drawn on the item page, posted
    to the cart (the stock check there needs the item)."""

    item_id = IdField("Item", validators=[InputRequired()])
    quantity = quantity_field()
