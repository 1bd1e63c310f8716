"""Cart, checkout and order forms (the cart-add form the item page draws is in app/forms.py)."""

from __future__ import annotations

import re

import pycountry
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp
from wtforms.widgets import Select

from app.forms import (
    AmountField,
    NoControlCharacters,
    PercentField,
    WholeNumberField,
    quantity_field,
    strip,
)
from app.limits import (
    ADDRESS_CITY_MAX,
    ADDRESS_LINE_MAX,
    ADDRESS_NAME_MAX,
    BANK_DETAILS_MAX,
    ORDER_NOTE_MAX,
    POSTCODE_MAX,
    SHIPPING_NAME_MAX,
    TRACKING_NUMBER_MAX,
)
from app.numbers import whole_number_or_none
from app.orders.placing import ADDRESS_FIELDS, Quote, ShippingAddress
from app.orders.statuses import STATUSES


class CartUpdateForm(FlaskForm):
    """Change a cart line's quantity."""

    quantity = quantity_field()


def _countries() -> list[tuple[str, str]]:
    """ISO 3166 alpha-2 codes with their names, by name (pycountry's list)."""
    return sorted(
        ((country.alpha_2, country.name) for country in pycountry.countries),
        key=lambda pair: pair[1],
    )


COUNTRIES = _countries()
COUNTRY_CODES = frozenset(code for code, _ in COUNTRIES)


class CountrySelect(Select):
    """The ~250 countries' <option>s, written once for the process: drawing them
    through WTForms on every checkout page was 40 % of the page's time. Only
    the chosen option's `selected` changes (and only for a code on the list)."""

    OPTIONS = Markup("").join(
        Markup('<option value="{}">{}</option>').format(code, name)
        for code, name in [("", "Choose a country"), *COUNTRIES]
    )

    def __call__(self, field, **kwargs) -> Markup:
        kwargs.setdefault("id", field.id)
        options = self.OPTIONS
        if field.data in COUNTRY_CODES:
            options = options.replace(
                Markup('<option value="{}">').format(field.data),
                Markup('<option value="{}" selected>').format(field.data),
                1,
            )
        attributes = Markup(" ").join(
            Markup('{}="{}"').format(key.rstrip("_").replace("_", "-"), value)
            for key, value in sorted({"name": field.name, **kwargs}.items())
            if value is not False and value is not None
        )
        return Markup("<select {}>{}</select>").format(attributes, options)


# Postcodes as the post office writes them, where the store knows the shape;
# elsewhere letters, digits, spaces and hyphens.
POSTCODE_SHAPES = {
    "US": (re.compile(r"\d{5}(-\d{4})?"), "a ZIP code like 12345 or 12345-6789"),
    "GB": (
        re.compile(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", re.I),
        "a postcode like SW1A 1AA",
    ),
    "CA": (re.compile(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", re.I), "a postal code like K1A 0B1"),
    "DE": (re.compile(r"\d{5}"), "five digits"),
    "FR": (re.compile(r"\d{5}"), "five digits"),
    "NL": (re.compile(r"\d{4} ?[A-Z]{2}", re.I), "a postcode like 1012 AB"),
    "AU": (re.compile(r"\d{4}"), "four digits"),
}
POSTCODE_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 -]*[A-Za-z0-9])?", re.ASCII)
# The checkout page's quote: "12:1250,40:500" (item id: price in cents).
PAIRS_RE = re.compile(
    r"(?:[A-Za-z0-9_-]{1,40}:\d{1,12})(?:,[A-Za-z0-9_-]{1,40}:\d{1,12}){0,99}"
)


# A cart's checkout token (secrets.token_urlsafe; orders.token holds 64).
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


def _text(label: str, maximum: int, required: str | None = None) -> StringField:
    return StringField(
        label,
        filters=[strip],
        validators=[
            Length(max=maximum, message=f"Use at most {maximum} characters."),
            NoControlCharacters(),
        ],
        render_kw={"maxlength": maximum},
        description=required or "",
    )


def _pairs(text: str | None) -> dict[str, int] | None:
    if not text or not PAIRS_RE.fullmatch(text):
        return None
    return {key: int(value) for key, value in (p.split(":") for p in text.split(","))}


class CheckoutForm(FlaskForm):
    """The checkout page: where to ship, how, how to pay, and what was shown."""

    address_id = SelectField(
        "Ship to", choices=[SelectChoice("", "A new address")], validate_choice=False
    )
    name = _text("Full name", ADDRESS_NAME_MAX, "Enter the name to deliver to.")
    line1 = _text("Address", ADDRESS_LINE_MAX, "Enter the street address.")
    line2 = _text("Address line 2 (optional)", ADDRESS_LINE_MAX)
    city = _text("Town or city", ADDRESS_CITY_MAX, "Enter the town or city.")
    postcode = _text("Postcode", POSTCODE_MAX, "Enter the postcode.")
    country = SelectField(
        "Country",
        choices=[
            SelectChoice("", "Choose a country"),
            *(SelectChoice(code, name) for code, name in COUNTRIES),
        ],
        validate_choice=False,
        widget=CountrySelect(),
    )
    save_address = BooleanField("Save this address for next time")
    shipping = RadioField("Delivery", choices=[], validate_choice=False)
    payment = RadioField("Payment", choices=[], validate_choice=False)
    # Compared with the cart's own token; anything else is a stale page.
    token = HiddenField()
    seen_prices = HiddenField()
    seen_shipping = HiddenField()
    seen_tax = HiddenField()

    def offer(self, methods, addresses, payments) -> None:
        """The choices this shopper has now (methods, saved addresses, payments)."""
        self.shipping.choices = [SelectChoice(m.code, m.name) for m in methods]
        self.address_id.choices = [SelectChoice("", "A new address")] + [
            SelectChoice(str(a.id), a.one_line()) for a in addresses
        ]
        self.payment.choices = [SelectChoice(code, name) for code, name in payments]
        self._addresses = {str(a.id): a for a in addresses}

    def saved_address(self):
        return self._addresses.get(self.address_id.data or "")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.address_id.data and self.saved_address() is None:
            self.address_id.errors.append("Choose one of your saved addresses.")
            valid = False
        if not self.address_id.data:
            valid = self._validate_new_address() and valid
        if self.shipping.data not in {choice.value for choice in self.shipping.choices}:
            self.shipping.errors.append("Choose how to deliver your order.")
            valid = False
        if self.payment.data not in {choice.value for choice in self.payment.choices}:
            self.payment.errors.append("Choose how to pay.")
            valid = False
        return valid

    def _validate_new_address(self) -> bool:
        valid = True
        for field in (self.name, self.line1, self.city, self.postcode):
            if not field.data and not field.errors:
                field.errors.append(field.description)
                valid = False
        if self.country.data not in COUNTRY_CODES:
            self.country.errors.append("Choose a country from the list.")
            return False
        code = (self.postcode.data or "").upper()
        if code and not self.postcode.errors:
            shape, words = POSTCODE_SHAPES.get(self.country.data, (POSTCODE_RE, ""))
            if not shape.fullmatch(code) or not POSTCODE_RE.fullmatch(code):
                self.postcode.errors.append(
                    f"Enter {words}."
                    if words
                    else "Enter the postcode as it is written."
                )
                valid = False
        return valid

    def quote(self) -> Quote | None:
        """What the page showed, or None when the hidden fields are not its own."""
        prices, shipping = (
            _pairs(self.seen_prices.data),
            _pairs(self.seen_shipping.data),
        )
        tax = whole_number_or_none(self.seen_tax.data)
        if prices is None or shipping is None or tax is None:
            return None
        if not all(key.isdigit() for key in prices):
            return None
        return Quote({int(k): v for k, v in prices.items()}, shipping, tax)

    def address(self) -> ShippingAddress:
        saved = self.saved_address()
        if saved is not None:
            return ShippingAddress(**{n: getattr(saved, n) for n in ADDRESS_FIELDS})
        return ShippingAddress(
            name=self.name.data,
            line1=self.line1.data,
            line2=self.line2.data or "",
            city=self.city.data,
            postcode=self.postcode.data.upper(),
            country=self.country.data,
        )


def quote_fields(lines, methods, tax_rate_bp: int) -> dict[str, str]:
    """The hidden fields that record what the checkout page shows."""
    return {
        "seen_prices": ",".join(
            f"{line.item.id}:{line.item.price_cents}" for line in lines
        ),
        "seen_shipping": ",".join(f"{m.code}:{m.price_cents}" for m in methods),
        "seen_tax": str(tax_rate_bp),
    }


class StatusForm(FlaskForm):
    """An admin's move of an order: the next status, a tracking number, a note."""

    status = HiddenField()
    # The status the admin's page showed: a move from anything else (another
    # admin moved the order meanwhile) is refused. Optional for scripts.
    from_status = HiddenField()
    tracking_number = _text("Tracking number", TRACKING_NUMBER_MAX)
    note = _text("Note (optional)", ORDER_NOTE_MAX)

    def validate_status(self, field: HiddenField) -> None:
        if field.data not in STATUSES:
            raise ValidationError("Choose one of the order's next statuses.")


class RefundForm(FlaskForm):
    """An admin's refund of part (or all) of an order, typed like a price."""

    amount = AmountField(
        "Amount to refund ($)",
        validators=[InputRequired("Enter an amount to refund, like 12.50.")],
        max_cents=10**12,
        too_much="That is more than any order's total.",
    )
    note = _text("Note (optional)", ORDER_NOTE_MAX)
    # What the page showed as refunded so far: a card refund's idempotency
    # key is derived from it, and a refund from a page that is out of date
    # is refused before the provider is asked.
    seen_refunded = HiddenField()

    def seen_refunded_cents(self) -> int | None:
        return whole_number_or_none(self.seen_refunded.data or "")


class CardForm(FlaskForm):
    """The card step: only the id Stripe's script gave the card (a PaymentMethod
    `pm_...`, or with the local test server a card `card_...`), never a number."""

    payment_method = StringField(
        "Card",
        validators=[
            InputRequired("Enter your card details, then press Pay."),
            Regexp(
                r"^(pm|card)_[A-Za-z0-9_]{1,200}$",
                message="Enter your card details, then press Pay.",
            ),
        ],
    )


class ShopSettingsForm(FlaskForm):
    """The tax rate (a percentage like 8.25, kept in basis points) and the
    bank details shown to shoppers who pay by transfer."""

    tax_rate = PercentField(
        "Tax rate (%)",
        validators=[InputRequired("Enter the tax rate, like 8.25 (or 0).")],
    )
    bank_transfer_details = TextAreaField(
        "Bank transfer details",
        filters=[strip],
        validators=[
            Length(
                max=BANK_DETAILS_MAX,
                message=f"Use at most {BANK_DETAILS_MAX:,} characters.",
            ),
            NoControlCharacters(allow="\r\n\t"),
        ],
        description="Shown on unpaid bank-transfer orders, with the order number as the reference.",
        render_kw={"rows": 4},
    )


class ShippingMethodForm(FlaskForm):
    """Add or edit a shipping method."""

    code = StringField(
        "Code",
        filters=[strip],
        validators=[
            InputRequired("Give the method a short code, like standard."),
            Regexp(
                r"^[a-z0-9][a-z0-9_-]{0,39}$",
                message="Use lower-case letters, digits, - and _.",
            ),
        ],
    )
    name = _text("Name", SHIPPING_NAME_MAX)
    price = AmountField(
        "Price ($)", validators=[InputRequired("Enter a price, like 4.95.")]
    )
    free_over = AmountField(
        "Free over ($, optional)",
        validators=[Optional()],
        too_much="Enter at most 1000000.00 (or leave it empty: never free).",
    )
    position = WholeNumberField(
        "Order in the list", validators=[Optional()], maximum=1_000
    )
    is_active = BooleanField("Offered at checkout", default=True)

    def validate_name(self, field) -> None:
        if not field.data:
            raise ValidationError("Give the method a name shoppers understand.")
