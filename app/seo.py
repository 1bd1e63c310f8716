"""What search engines read: item pages' schema.org Product data, meta
descriptions cut from an item's text, the sitemap and robots.txt."""

from __future__ import annotations

from typing import Any

from app.content import summary
from app.models import Item
from app.money import cents_to_decimal_text

CURRENCY = "USD"


def item_description(item: Item) -> str:
    """An item page's meta description: its own text, or its name and price."""
    text = summary(item.description or "")
    if len(text) >= 20:
        return text
    return f"{item.name}: {cents_to_decimal_text(item.price_cents)} {CURRENCY} at Corner Store."


def product_data(item: Item, url: str) -> dict[str, Any]:
    """schema.org Product with its Offer: price, currency and availability."""
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
    return data
