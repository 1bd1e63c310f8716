"""Catalogue search through the trigram index: SQLite's FTS5 table of live item
names (kept in step by triggers) and PostgreSQL's pg_trgm index, with a plain
LIKE for queries too short to have a trigram; and hostile searches and sorts on
every list, the admin's too (SECURITY 2, 5, 7)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import cache, db
from app.items import routes as items_routes
from app.models import Item, utcnow
from tests.helpers import (
    PASSWORD_HASH_MARKERS,
    client_for,
    count_queries,
    db_state,
    html_of,
    item_ids_linked,
    post_form,
    sign_in,
    valid_csrf,
)

DID_YOU_MEAN_RE = re.compile(r'<section id="did-you-mean".*?</section>', re.S)


def search(client, q: str, **params) -> list[int]:
    """The items a search lists (not the close names it suggests on none)."""
    response = client.get("/items/", query_string={"q": q, **params})
    assert response.status_code == 200
    return item_ids_linked(DID_YOU_MEAN_RE.sub("", response.get_data(as_text=True)))


def close_names_shown(client, q: str) -> list[int]:
    html = client.get("/items/", query_string={"q": q}).get_data(as_text=True)
    section = DID_YOU_MEAN_RE.search(html)
    return item_ids_linked(section[0]) if section else []


def test_search_matches_inside_words_in_any_case(client, make_item):
    lamp = make_item(name="Walnut Desk Lamp")
    mug = make_item(name="Stoneware MUG")
    make_item(name="Linen Apron")

    assert search(client, "ALNU") == [lamp]
    assert search(client, "tonew") == [mug]
    assert search(client, "desk lamp") == [lamp]
    assert search(client, "lamp desk") == [lamp]  # words, in any order


def test_search_counts_only_matches(client, make_item):
    for n in range(30):
        make_item(name=f"Oak Board {n:02d}")
    make_item(name="Glass Vase")
    html = client.get("/items/?q=oak").get_data(as_text=True)
    assert "30 items" in html
    assert len(item_ids_linked(html)) == 24
    assert len(search(client, "oak", page=2)) == 6


def test_a_common_word_counts_its_matches_up_to_the_cap(client, make_item, monkeypatch):
    """A search stops counting at SEARCH_COUNT_CAP ("1,000+ items"): its pages
    run to the cap, and the last of them says to narrow the search."""
    monkeypatch.setattr(items_routes, "SEARCH_COUNT_CAP", 30)
    oak = sorted(make_item(name=f"Oak Board {n:02d}") for n in range(50))
    for q in ("oak", "o"):  # the trigram index, and the short-query fallback
        html = client.get("/items/", query_string={"q": q}).get_data(as_text=True)
        assert "30+ items · page 1 of 2+" in html
        assert "add a word" not in html
        last = client.get("/items/", query_string={"q": q, "page": 2})
        html = last.get_data(as_text=True)
        assert "page 2 of 2+" in html
        assert item_ids_linked(html) == oak[24:48]  # the rows are all there
        assert 'rel="next"' not in html
        assert "More than 30 items match “" in html
        assert "add a word to narrow them down" in html
    # Under the cap the count is exact.
    html = client.get("/items/", query_string={"q": "board 4"}).get_data(as_text=True)
    assert "10 items" in html
    assert "10+" not in html


def test_a_search_count_is_remembered_per_query(make_app, make_item):
    """Within SEARCH_COUNT_CACHE_SECONDS the same search runs one statement fewer
    (its count); another query counts its own matches."""
    for n in range(3):
        make_item(name=f"Oak Shelf {n}")
    make_item(name="Pine Shelf")
    cached_app = make_app(SEARCH_COUNT_CACHE_SECONDS=60)
    client = cached_app.test_client()
    with cached_app.app_context():
        cache.clear()
    try:
        with count_queries(cached_app) as first:
            assert "3 items" in client.get("/items/?q=oak").get_data(as_text=True)
        with count_queries(cached_app) as second:
            assert "3 items" in client.get("/items/?q=oak").get_data(as_text=True)
        with count_queries(cached_app) as other:
            assert "4 items" in client.get("/items/?q=shelf").get_data(as_text=True)
    finally:
        with cached_app.app_context():
            cache.clear()
    assert len(second) == len(first) - 1
    assert len(other) == len(first)


def test_deep_catalogue_pages_keep_their_order(client, make_item):
    """The page's keys are found first, then their rows (a deferred join): every
    order still pages through every live item once, in order."""
    names = [f"Item {n:03d}" for n in range(60)]
    ids = {
        make_item(name=name, price_cents=1000 - n): name for n, name in enumerate(names)
    }
    archived = make_item(name="Item 000 archived", archived=True)
    for sort, expected in (
        ("name", sorted(ids, key=ids.get)),
        ("price", sorted(ids, key=lambda i: (1000 - names.index(ids[i]), i))),
        ("-price", sorted(ids, key=lambda i: (names.index(ids[i]), -i))),
    ):
        seen = []
        for page in (1, 2, 3):
            seen += item_ids_linked(
                client.get(f"/items/?sort={sort}&page={page}").get_data(as_text=True)
            )
        assert seen == expected, sort
        assert archived not in seen


def test_search_follows_renames_archives_and_restores(app, client, make_item):
    item_id = make_item(name="Copper Kettle")
    assert search(client, "copper") == [item_id]

    def change(**values) -> None:
        with app.app_context():
            item = db.session.get(Item, item_id)
            for name, value in values.items():
                setattr(item, name, value)
            db.session.commit()

    change(name="Brass Kettle")
    assert search(client, "copper") == []
    assert search(client, "brass") == [item_id]

    change(archived_at=utcnow())
    assert search(client, "brass") == []

    change(archived_at=None)
    assert search(client, "brass") == [item_id]

    with app.app_context():
        db.session.delete(db.session.get(Item, item_id))
        db.session.commit()
    assert search(client, "brass") == []


def test_search_keeps_the_chosen_sort(client, make_item):
    cheap = make_item(name="Oak Spoon", price_cents=500)
    dear = make_item(name="Oak Chair", price_cents=9000)
    middle = make_item(name="Oak Tray", price_cents=2500)
    make_item(name="Felt Hat", price_cents=100)

    assert search(client, "oak") == [dear, cheap, middle]
    assert search(client, "oak", sort="price") == [cheap, middle, dear]
    assert search(client, "oak", sort="-price") == [dear, middle, cheap]


def test_a_search_pages_through_its_matches_in_every_order(client, make_items):
    """Page 2 of a search in each order: the matches are gathered first (a
    CTE on PostgreSQL), then sorted and paged; the rest of the catalogue is
    left out however it sorts."""
    oak = make_items(30, prefix="Oak Board")  # priced 101..130 cents, in id order
    elm = make_items(30, prefix="Elm Board")
    assert search(client, "oak", page=2) == oak[24:]
    assert search(client, "oak", sort="price", page=2) == oak[24:]
    assert search(client, "oak", sort="-price", page=2) == oak[:6][::-1]
    assert search(client, "oak", sort="newest", page=2) == oak[:6][::-1]
    assert search(client, "oak", sort="rating", page=2) == oak[:6][::-1]
    # The same prices: each pair in id order, the oak board first.
    both = [i for pair in zip(oak, elm, strict=True) for i in pair]
    assert search(client, "board", sort="price") == both[:24]


def test_short_and_quoted_queries_fall_back_safely(client, make_item):
    ox = make_item(name="Ox Bowl")
    quoted = make_item(name='The "Big" Jar')
    make_item(name="Cedar Crate")

    assert search(client, "ox") == [ox]
    assert search(client, '"big"') == [quoted]
    assert search(client, 'big" OR "cedar') == []
    assert search(client, "NEAR(oak cedar)") == []


def test_items_added_through_the_admin_form_are_found(client, admin):
    response = post_form(
        client,
        "/items/new",
        {"name": "Cork Trivet", "description": "", "price": "7.50", "stock": "4"},
    )
    assert response.status_code == 302
    client.post("/users/logout", data={"csrf_token": valid_csrf(client)})
    assert len(search(client, "trivet")) == 1


def test_search_index_exists_for_the_engine(app_context, engine_name):
    with db.engine.connect() as conn:
        if engine_name == "sqlite":
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name LIKE 'items_search%'"
            ).scalars()
            assert "items_search" in set(names)
        else:
            index = conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                {"n": "ix_items_name_trgm"},
            ).scalar()
            assert "gin_trgm_ops" in index


def test_signed_in_search_works_too(client, make_user, make_item):
    make_user(email="searcher@example.com")
    sign_in(client, "searcher@example.com")
    item_id = make_item(name="Bamboo Tote")
    assert search(client, "ambo") == [item_id]


# --- hostile queries and sorts on every list (SECURITY 2, 5, 7) ---------------------


def test_s02_search_query_is_escaped_when_echoed(app, store):
    hostile = '<iframe src="javascript:alert(1)">'
    admin = client_for(app, "admin@example.com")
    for client, url in (
        (app.test_client(), "/items/"),
        (admin, "/items/manage"),
        (admin, "/users/"),
    ):
        response = client.get(url, query_string={"q": hostile})
        assert response.status_code == 200, url
        html = html_of(response)
        assert "<iframe" not in html, url
        assert "&lt;iframe" in html, url


SQL_QUERIES = (
    "' OR 1=1--",
    "%' UNION SELECT password_hash FROM users--",
    "'; DROP TABLE items; --",
    '" OR ""="',
    "\\' OR 1=1 /*",
)


def test_s05_sql_in_search_is_just_text(app, store):
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    for query in SQL_QUERIES:
        for client, url in (
            (app.test_client(), "/items/"),
            (admin, "/items/manage"),
            (admin, "/users/"),
        ):
            response = client.get(url, query_string={"q": query})
            assert response.status_code == 200, (url, query)
            html = html_of(response)
            for marker in PASSWORD_HASH_MARKERS:
                assert marker not in html, (url, query)
            assert ">Lamp<" not in html, f"{url}: {query!r} matched everything"
        for name in ("user_id", "item_id"):
            response = admin.get("/purchases/all", query_string={name: f"1 {query}"})
            assert response.status_code == 400, (name, query)
    assert db_state(app) == before


BAD_SORTS = (
    "name; DROP TABLE items",
    "price_cents",
    "password_hash",
    "id desc",
    "-name",
    "",
    "\x00",
    "Price",
    "name,(SELECT 1)",
)


def test_s07_sort_accepts_only_its_allow_list(app, make_item, make_user):
    make_item(name="Banana", price_cents=300)
    make_item(name="Apple", price_cents=900)
    make_item(name="Cherry", price_cents=100)
    make_user("Admin", "admin@example.com", is_admin=True)
    client = app.test_client()
    admin = client_for(app, "admin@example.com")
    default = item_ids_linked(html_of(client.get("/items/")))
    by_price = item_ids_linked(html_of(client.get("/items/?sort=price")))
    assert by_price != default  # the allowed sorts do sort
    for sort in BAD_SORTS:
        response = client.get("/items/", query_string={"sort": sort})
        assert response.status_code in (200, 400), sort
        if response.status_code == 200:
            assert item_ids_linked(html_of(response)) == default, sort
        for url in ("/items/manage", "/users/"):
            response = admin.get(url, query_string={"sort": sort})
            assert response.status_code in (200, 400), (url, sort)


def test_search_finds_words_in_any_order_by_their_stems(client, make_item):
    lantern = make_item(name="Wool Lantern", description="A soft glow for patios.")
    lamps = make_item(name="Brass Desk Lamps", description="Two lamps, one switch.")
    make_item(name="Linen Apron", description="Cotton ties.")
    assert search(client, "lanterns") == [lantern]
    assert search(client, "lantern wool") == [lantern]
    assert search(client, "WOOL lanterns") == [lantern]
    assert search(client, "lamp") == [lamps]
    assert search(client, "desk lamp brass") == [lamps]
    assert search(client, "lantern apron") == []  # every word must match


def test_search_reads_descriptions_too(client, make_item):
    throw = make_item(name="Winter Throw", description="Knitted from merino wool.")
    make_item(name="Summer Sheet", description="Cool percale cotton.")
    assert search(client, "merino") == [throw]
    assert search(client, "knitting") == [throw]  # knitted, knitting: one stem


def test_search_results_follow_the_chosen_sort(client, make_item):
    cheap = make_item(name="Small Oak Bowl", price_cents=900)
    dear = make_item(name="Large Oak Bowl", price_cents=4900)
    middle = make_item(name="Oak Serving Bowls", price_cents=2900)
    assert search(client, "bowl oak", sort="price") == [cheap, middle, dear]
    assert search(client, "bowl oak", sort="-price") == [dear, middle, cheap]


def test_a_search_with_no_results_suggests_somewhere_to_go(
    client, make_item, make_category, engine_name
):
    kitchen = make_category("Kitchen")
    make_item(name="Copper Kettle", category_id=kitchen)
    response = client.get("/items/", query_string={"q": "xylophone"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No items match “xylophone”" in html
    assert 'href="/items/?category=kitchen"' in html


def test_typos_find_the_closest_names_on_postgresql(client, make_item, engine_name):
    if engine_name != "postgresql":
        pytest.skip("pg_trgm's similarity is PostgreSQL's")
    kettle = make_item(name="Copper Kettle")
    make_item(name="Linen Apron")
    assert search(client, "kettel") == []
    assert close_names_shown(client, "kettel") == [kettle]
    assert close_names_shown(client, "coper kettle") == [kettle]
    assert close_names_shown(client, "zzzzqqq") == []


def test_search_words_are_text_never_query_syntax(client, make_item):
    lamp = make_item(name="Lamp")
    for q in (
        'lamp"',
        "lamp*",
        "lamp OR",
        "NEAR(lamp)",
        "lamp & !x",
        "lamp:*",
        "-lamp",
        "l'amp",
    ):
        response = client.get("/items/", query_string={"q": q})
        assert response.status_code == 200, q
    assert search(client, 'lamp"') == [lamp]
    assert search(client, "lamp:*") == [lamp]
