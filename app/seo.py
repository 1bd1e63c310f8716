"""What search engines read on item pages: schema.org Product data (as JSON
safe inside a script block) and a meta description cut from the item's text.
The sitemap and robots.txt are app/main.py's."""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from app.content import summary
from app.models import Item
from app.money import cents_to_decimal_text

CURRENCY = "USD"
# An escape sequence inside a JSON string: a backslash and the one character after.
JSON_ESCAPE = re.compile(r"\\(.)", re.S)


def item_description(item: Item) -> str:
    """An item page's meta description: its own text, or its name and price."""
    text = summary(item.description or "")
    if len(text) >= 20:
        return text
    return f"{item.name}: {cents_to_decimal_text(item.price_cents)} {CURRENCY} at Corner Store."


def product_data(
    item: Item, url: str, image_urls: list[str] | None = None
) -> dict[str, Any]:
    """schema.org Product with its Offer: price, currency and availability,
    and the absolute URLs of its pictures when it has any."""
    availability = "InStock" if item.stock > 0 else "OutOfStock"
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": item.name,
        "sku": str(item.id),
        "url": url,
        "offers": {
            "@type": "Offer",
            "url": url,
            "price": cents_to_decimal_text(item.price_cents),
            "priceCurrency": CURRENCY,
            "availability": f"https://schema.org/{availability}",
        },
    }
    if item.description:
        data["description"] = item.description
    if image_urls:
        data["image"] = image_urls
    return data


def _dumps_quotes_escaped(data: Any, **kwargs: Any) -> str:
    """json.dumps with each quote inside a string written as \\u0022."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), **kwargs)
    return JSON_ESCAPE.sub(
        lambda m: "\\u0022" if m.group(1) == '"' else m.group(0), text
    )


def json_for_script(data: dict[str, Any]) -> Markup:
    """JSON for a `<script type="application/ld+json">` block with no
    character HTML gives a meaning to: Jinja's `tojson` escapes `< > & '`,
    and the quote inside a string is a \\u escape too (JSON reads both back
    alike), so nothing in it can end the block or pass for an attribute."""
    return htmlsafe_json_dumps(data, dumps=_dumps_quotes_escaped)
