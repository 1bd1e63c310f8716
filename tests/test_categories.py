"""The category tree: the admin's page at /items/categories/ (slugs made from
names, -2, -3… when taken), no cycle ever (the view refuses, and the
database's trigger refuses whatever writes the row), the item form's
`category_id`, and the catalogue's `?category=` (the whole subtree, with
breadcrumbs) with price and stock filters and counts that respect them."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Category, Item
from tests.helpers import (
    GOOD_ITEM,
    html_of,
    item_ids_linked,
    post_form,
    store_state,
)


def categories_of(app) -> dict[str, tuple]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Category.slug, Category.name, Category.parent_id)
        ).all()
        return {slug: (name, parent) for slug, name, parent in rows}


def category_of(app, item_id: int) -> int | None:
    with app.app_context():
        return db.session.scalar(sa.select(Item.category_id).where(Item.id == item_id))


def add(client, **fields):
    return post_form(client, "/items/categories/", {"parent_id": "", **fields})


def test_adding_categories_makes_slugs_from_names(app, client, admin):
    assert add(client, name="Kitchen & Dining").status_code == 302
    assert add(client, name="Kitchen  dining").status_code == 302
    assert add(client, name="Kitchen: Dining!").status_code == 302
    assert add(client, name="Café", slug="").status_code == 302
    assert set(categories_of(app)) == {
        "kitchen-dining",
        "kitchen-dining-2",
        "kitchen-dining-3",
        "cafe",
    }
    page = client.get("/items/categories/").get_data(as_text=True)
    assert "Kitchen &amp; Dining" in page and "kitchen-dining-3" in page


def test_a_child_category_and_a_chosen_slug(app, client, admin, make_category):
    home = make_category("Home")
    response = add(client, name="Lamps", parent_id=str(home), slug="Desk-Lamps")
    assert response.status_code == 302
    assert categories_of(app)["desk-lamps"] == ("Lamps", home)
    # A chosen slug that is taken gets the next free number too.
    assert add(client, name="More lamps", slug="desk-lamps").status_code == 302
    assert "desk-lamps-2" in categories_of(app)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": ""}, "Give the category a name."),
        ({"name": "x" * 81}, "Use 1 to 80 characters"),
        ({"name": "Ok", "slug": "has space"}, "lower-case letters"),
        ({"name": "Ok", "slug": "--"}, "lower-case letters"),
        ({"name": "Ok", "parent_id": "999999"}, "Not a valid choice"),
        ({"name": "Ok", "parent_id": "abc"}, "Not a valid choice"),
        ({"name": "bad\x00name"}, "control characters"),
    ],
)
def test_a_bad_category_is_refused_and_nothing_written(
    app, client, admin, fields, message
):
    before = categories_of(app)
    response = add(client, **fields)
    assert response.status_code == 422
    assert message in html_of(response)
    assert categories_of(app) == before


def test_moving_a_category_inside_its_own_subtree_is_refused(
    app, client, admin, make_category
):
    home = make_category("Home")
    lighting = make_category("Lighting", parent_id=home)
    lamps = make_category("Lamps", parent_id=lighting)
    before = categories_of(app)
    for target in (home, lighting, lamps):
        response = post_form(
            client,
            f"/items/categories/{home}/move",
            {"parent_id": str(target)},
            page="/items/categories/",
        )
        assert response.status_code == 302
        assert "cannot go inside itself" in client.get("/items/categories/").get_data(
            as_text=True
        )
    assert categories_of(app) == before
    # A move that makes no loop is made.
    post_form(
        client,
        f"/items/categories/{lamps}/move",
        {"parent_id": ""},
        page="/items/categories/",
    )
    assert categories_of(app)["lamps"] == ("Lamps", None)


def test_the_database_refuses_a_cycle_whatever_writes_it(app, make_category):
    home = make_category("Home")
    lighting = make_category("Lighting", parent_id=home)
    lamps = make_category("Lamps", parent_id=lighting)
    with app.app_context():
        for parent in (home, lighting, lamps):
            with pytest.raises(sa.exc.IntegrityError):
                db.session.execute(
                    sa.text("UPDATE categories SET parent_id = :p WHERE id = :id"),
                    {"p": parent, "id": home},
                )
            db.session.rollback()
        # Unknown parents are refused by the key.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.text("UPDATE categories SET parent_id = 999999 WHERE id = :id"),
                {"id": lamps},
            )
        db.session.rollback()
    assert categories_of(app)["home"] == ("Home", None)


def test_the_item_form_sets_and_keeps_the_category(
    app, client, admin, make_category, make_item
):
    home = make_category("Home")
    lighting = make_category("Lighting", parent_id=home)
    form = client.get("/items/new").get_data(as_text=True)
    assert re.search(r'<select[^>]*name="category_id"', form)
    assert f'<option value="{lighting}">\u2003Lighting</option>' in form

    response = post_form(
        client, "/items/new", {**GOOD_ITEM, "category_id": str(lighting)}
    )
    assert response.status_code == 302
    item_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert category_of(app, item_id) == lighting

    # An edit without the field leaves the category as it is ...
    post_form(client, f"/items/{item_id}/edit", {**GOOD_ITEM, "name": "Renamed"})
    assert category_of(app, item_id) == lighting
    # ... an empty one clears it, another sets it.
    post_form(client, f"/items/{item_id}/edit", {**GOOD_ITEM, "category_id": ""})
    assert category_of(app, item_id) is None
    post_form(client, f"/items/{item_id}/edit", {**GOOD_ITEM, "category_id": str(home)})
    assert category_of(app, item_id) == home
    # An unknown one is a form error.
    response = post_form(
        client, f"/items/{item_id}/edit", {**GOOD_ITEM, "category_id": "999999"}
    )
    assert response.status_code == 422
    assert category_of(app, item_id) == home


@pytest.fixture
def shelves(app, make_category, make_item):
    """Home > Lighting > Lamps, Home > Textiles, and Garden; items in each."""
    ids = {
        "home": make_category("Home"),
        "garden": make_category("Garden"),
    }
    ids["lighting"] = make_category("Lighting", parent_id=ids["home"])
    ids["textiles"] = make_category("Textiles", parent_id=ids["home"])
    ids["lamps"] = make_category("Lamps", parent_id=ids["lighting"])
    put = [
        ("Brass Desk Lamp", 4500, 3, "lamps"),
        ("Paper Lantern", 1800, 0, "lighting"),
        ("Wool Throw", 6500, 8, "textiles"),
        ("Linen Cushion", 2500, 2, "textiles"),
        ("Oak Shelf", 9000, 1, "home"),
        ("Watering Can", 2200, 5, "garden"),
        ("Loose Candle", 500, 9, None),
    ]
    for name, price, stock, category in put:
        ids[name] = make_item(
            name=name,
            price_cents=price,
            stock=stock,
            category_id=ids[category] if category else None,
        )
    return ids


def listed(client, **params) -> tuple[list[int], str]:
    response = client.get("/items/", query_string=params)
    assert response.status_code == 200
    html = html_of(response)
    return item_ids_linked(html), html


def counts_shown(html: str) -> dict[str, int]:
    nav = re.search(r'<nav class="categories".*?</nav>', html, re.S)
    if not nav:
        return {}
    return {
        name: int(n.replace(",", ""))
        for name, n in re.findall(
            r">([^<]+)</a> <span class=\"muted\">\(([\d,]+)\)", nav[0]
        )
    }


def test_a_category_lists_its_whole_subtree_with_breadcrumbs(client, shelves):
    ids, html = listed(client, category="home")
    assert sorted(ids) == sorted(
        shelves[n]
        for n in (
            "Brass Desk Lamp",
            "Paper Lantern",
            "Wool Throw",
            "Linen Cushion",
            "Oak Shelf",
        )
    )
    assert "5 items" in html
    assert counts_shown(html) == {"Lighting": 2, "Textiles": 2}

    ids, html = listed(client, category="lamps")
    assert ids == [shelves["Brass Desk Lamp"]]
    crumbs = re.search(r'<nav aria-label="Breadcrumb"[^>]*>(.*?)</nav>', html, re.S)[1]
    assert re.findall(r">([^<]+)</(?:a|span)>", crumbs) == [
        "Catalogue",
        "Home",
        "Lighting",
        "Lamps",
    ]


def test_the_landing_page_counts_top_level_categories(client, shelves):
    _, html = listed(client)
    assert counts_shown(html) == {"Garden": 1, "Home": 5}


def test_counts_respect_price_stock_and_search(client, shelves):
    ids, html = listed(client, category="home", in_stock="1")
    assert shelves["Paper Lantern"] not in ids
    assert counts_shown(html) == {"Lighting": 1, "Textiles": 2}
    ids, html = listed(client, category="home", min_price="20.00", max_price="50.00")
    assert sorted(ids) == sorted([shelves["Brass Desk Lamp"], shelves["Linen Cushion"]])
    assert counts_shown(html) == {"Lighting": 1, "Textiles": 1}
    assert "2 items" in html
    ids, html = listed(client, q="lamp")
    assert ids == [shelves["Brass Desk Lamp"]]
    assert counts_shown(html) == {"Garden": 0, "Home": 1}
    ids, html = listed(client, q="wool", category="textiles", sort="-price")
    assert ids == [shelves["Wool Throw"]]
    # The child links keep the other filters.
    _, html = listed(client, category="home", in_stock="1", min_price="1.00")
    assert "/items/?category=lighting&amp;min_price=1.00&amp;in_stock=1" in html


def test_sorts_apply_within_a_category(client, shelves):
    ids, _ = listed(client, category="home", sort="-price")
    prices = {"Oak Shelf": 9000, "Wool Throw": 6500, "Brass Desk Lamp": 4500}
    assert ids[:3] == [shelves[n] for n in sorted(prices, key=prices.get, reverse=True)]


def test_an_unknown_category_is_a_404(client, shelves):
    for slug in ("nope", "x" * 500, "home/../garden", "\x00"):
        assert client.get("/items/", query_string={"category": slug}).status_code == 404


@pytest.mark.parametrize("value", ["abc", "-5", "1.234", "1e3", "9" * 400, "١٢", "NaN"])
def test_a_malformed_price_filter_is_ignored_with_a_note(client, shelves, value):
    ids, html = listed(client, min_price=value)
    assert len(ids) == 7
    assert "was ignored: use an amount like 12.50" in html


def test_a_reversed_price_range_is_swapped_with_a_note(client, shelves):
    ids, html = listed(client, min_price="50", max_price="20")
    in_range = ("Brass Desk Lamp", "Linen Cushion", "Watering Can")
    assert sorted(ids) == sorted(shelves[name] for name in in_range)
    assert "swapped" in html


def test_category_pages_write_nothing(app, client, shelves):
    before = store_state(app)
    listed(client, category="home", in_stock="1", q="lamp")
    assert store_state(app) == before
