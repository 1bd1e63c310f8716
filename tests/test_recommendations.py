"""Recommendations (issue 8): "customers who bought this also bought" on the
item page and "Popular" on the catalogue's first unfiltered page: their
ranking, what they leave out, the fallback to popular items, that no buyer is
named, and that neither adds statements per row."""

from __future__ import annotations

import re

import pytest

from app.extensions import cache, db
from app.items import recommendations
from app.items.recommendations import also_bought, popular
from app.models import UserItem
from app.orders import lifecycle
from tests.helpers import (
    count_queries,
    get_html,
    item_ids_linked,
    minutes_ago,
    queries,
    set_item,
    sign_in,
)
from tests.test_query_budgets import CATALOGUE_ANONYMOUS, ITEM_PAGE_ANONYMOUS

ALSO_BOUGHT_RE = re.compile(r'<section class="also-bought".*?</section>', re.DOTALL)
POPULAR_RE = re.compile(r'<section class="popular".*?</section>', re.DOTALL)


def ids(rows) -> list[int]:
    return [row.id for row in rows]


@pytest.fixture
def buy(make_purchase):
    def buy(user_id: int, *item_ids: int, at: int | None = None) -> None:
        """`user_id` bought each item, `at` minutes before the tests' clock (or now)."""
        for item_id in item_ids:
            when = minutes_ago(at) if at is not None else None
            make_purchase(user_id, item_id, when=when)

    return buy


def block(html: str, pattern: re.Pattern) -> str:
    match = pattern.search(html)
    assert match, "the page has no such block"
    return match.group(0)


# --- also bought: ranking ---------------------------------------------------------


def test_also_bought_ranks_by_co_buyers_then_by_latest_co_purchase(
    app_context, make_item, make_users, buy
):
    item, pair, older, newer, lone = (make_item() for _ in range(5))
    (u1, _), (u2, _), (u3, _) = make_users(3)
    buy(u1, item, pair, at=50)
    buy(u2, item, pair, at=40)
    # One co-buyer each: the later co-purchase ranks first. A buyer who bought
    # an item three times still counts once.
    buy(u1, older, older, older, at=30)
    buy(u3, item, at=20)
    buy(u3, newer, at=10)
    assert ids(also_bought(item)) == [pair, newer, older]
    assert lone not in ids(also_bought(item, limit=10))


def test_also_bought_rows_carry_only_what_a_card_shows(
    app_context, make_item, make_user, buy
):
    item = make_item()
    other = make_item(name="Teapot", price_cents=2599, stock=4)
    buyer = make_user("Quentin Quill", "quentin@example.com")
    buy(buyer, item, other)
    (row,) = also_bought(item)
    assert row._asdict() == {
        "id": other,
        "name": "Teapot",
        "price_cents": 2599,
        "stock": 4,
        # and its first picture's (none here): never a buyer's name
        "image_key": None,
        "image_widths": None,
        "image_width": None,
        "image_height": None,
        "image_alt": None,
    }


def test_also_bought_leaves_out_the_item_archived_and_sold_out_items(
    app_context, make_item, make_users, buy
):
    item = make_item()
    archived = make_item(archived=True)
    sold_out = make_item(stock=0)
    shown = make_item()
    (u1, _), (u2, _) = make_users(2)
    buy(u1, item, item, archived, sold_out, shown)
    buy(u2, item, archived, sold_out)
    # Popular items fill up, but every one of these is the item itself, already
    # shown, archived or sold out.
    assert ids(also_bought(item)) == [shown]


def test_only_the_best_candidates_are_checked_for_being_on_sale(
    app, app_context, make_item, monkeypatch, make_users, buy
):
    item, top, second, third = (make_item() for _ in range(4))
    (u1, _), (u2, _) = make_users(2)
    buy(u1, item, top, second, at=30)
    buy(u2, item, top, at=20)
    buy(u2, third, at=10)
    set_item(app, top, stock=0)
    assert ids(also_bought(item, limit=2)) == [third, second]
    # One candidate a place: of the best two (top, third) only third is on
    # sale, and second is never looked at. (The popular fill, cut down to the
    # latest line, which is third's, has nothing else to offer.)
    monkeypatch.setattr(recommendations, "CANDIDATES_PER_SLOT", 1)
    monkeypatch.setattr(recommendations, "POPULAR_LINES", 1)
    assert ids(also_bought(item, limit=2)) == [third]


def test_also_bought_stops_at_the_limit(
    app_context, make_item, make_items, make_user, buy
):
    item = make_item()
    others = make_items(10, prefix="Bulk")
    buyer = make_user("Busy Buyer", "busy@example.com")
    buy(buyer, item)
    for minutes, other in enumerate(others):
        buy(buyer, other, at=100 - minutes)
    assert ids(also_bought(item)) == others[::-1][:6]
    assert ids(also_bought(item, limit=2)) == others[::-1][:2]


def test_also_bought_reads_only_each_buyers_latest_lines(
    app_context, make_item, monkeypatch, make_users, buy
):
    item, old_favourite, recent_a, recent_b = (make_item() for _ in range(4))
    (u1, _), (u2, _) = make_users(2)
    buy(u1, old_favourite, at=100)
    buy(u2, old_favourite, at=100)
    buy(u1, recent_a, at=50)
    buy(u1, item, at=10)
    buy(u2, item, at=20)
    buy(u2, recent_b, at=5)
    # Two co-buyers make the old favourite first when whole histories count...
    assert ids(also_bought(item, limit=2)) == [old_favourite, recent_b]
    # ...but with two lines a buyer it lies outside both baskets: only the
    # popular fill can still bring it in, after the co-purchases.
    monkeypatch.setattr(recommendations, "BUYER_LINES", 2)
    assert ids(also_bought(item)) == [recent_b, recent_a, old_favourite]


def test_also_bought_reads_only_the_items_latest_buyers(
    app_context, make_item, monkeypatch, make_users, buy
):
    item, early_pick, late_pick = (make_item() for _ in range(3))
    (early, _), (late, _) = make_users(2)
    buy(early, early_pick, item, at=100)
    buy(late, late_pick, item, at=10)
    monkeypatch.setattr(recommendations, "SAMPLE_LINES", 1)
    monkeypatch.setattr(recommendations, "POPULAR_LINES", 1)  # no fill from it
    assert ids(also_bought(item)) == [late_pick]


# --- fallback to popular ----------------------------------------------------------


def test_never_bought_item_falls_back_to_popular_items(
    app_context, make_item, make_users, buy
):
    item, top, second, third = (make_item() for _ in range(4))
    (u1, _), (u2, _), (u3, _) = make_users(3)
    buy(u1, top, second, third, at=30)
    buy(u2, top, second, at=20)
    buy(u3, top, at=10)
    assert ids(also_bought(item)) == [top, second, third] == ids(popular())


def test_popular_items_fill_up_after_co_purchases_without_repeats(
    app_context, make_item, make_users, buy
):
    item, co, top, second = (make_item() for _ in range(4))
    (u1, _), (u2, _), (u3, _) = make_users(3)
    buy(u1, item, co, at=40)
    # `top` is more popular than `co`, and `co` is popular too: the
    # co-purchase still comes first, and nothing shows twice.
    buy(u2, top, co, second, at=30)
    buy(u3, top, at=20)
    assert ids(also_bought(item)) == [co, top, second]


@pytest.mark.parametrize("to_status", ["cancelled", "refunded"])
def test_cancelled_and_refunded_orders_recommend_nothing(
    app_context, make_item, make_users, make_purchase, to_status
):
    """A co-purchase or a buyer of a cancelled (or fully refunded) order no
    longer counts: `pair` drops out of the item's block and of popular."""
    item, pair, kept = (make_item() for _ in range(3))
    (u1, _), (u2, _) = make_users(2)
    make_purchase(u1, item, when=minutes_ago(30))
    make_purchase(u2, item, when=minutes_ago(25))
    make_purchase(u2, kept, when=minutes_ago(20))
    lines = [make_purchase(u, pair, when=minutes_ago(10)) for u in (u1, u2)]
    db.session.rollback()  # a fresh snapshot: the lines were written elsewhere
    undone = [db.session.get(UserItem, line).order_id for line in lines]
    assert ids(also_bought(item)) == [pair, kept]
    assert ids(popular()) == [pair, item, kept]
    for order_id in undone:
        assert lifecycle.move(order_id, "paid", to_status, actor_id=None).applied
    assert ids(also_bought(item)) == [kept]
    assert ids(popular()) == [item, kept]


def test_item_page_without_any_purchases_has_no_block(client, make_item):
    item = make_item()
    make_item()
    html = get_html(client, f"/items/{item}")
    assert "also bought" not in html
    assert ALSO_BOUGHT_RE.search(html) is None


# --- popular ----------------------------------------------------------------------


def test_popular_counts_distinct_buyers_and_breaks_ties_by_recency(
    app_context, make_item, make_users, buy
):
    top, bought_often, older, newer = (make_item() for _ in range(4))
    (u1, _), (u2, _), (u3, _) = make_users(3)
    buy(u1, top, at=60)
    buy(u2, top, at=50)
    buy(u3, bought_often, bought_often, bought_often, at=40)  # one buyer
    buy(u1, older, at=30)
    buy(u2, newer, at=20)
    assert ids(popular()) == [top, newer, older, bought_often]
    assert ids(popular(limit=1)) == [top]


def test_popular_leaves_out_archived_and_sold_out_items(
    app_context, make_item, make_users, buy
):
    archived = make_item(archived=True)
    sold_out = make_item(stock=0)
    shown = make_item()
    (u1, _), (u2, _) = make_users(2)
    buy(u1, archived, sold_out, shown)
    buy(u2, archived, sold_out)
    assert ids(popular()) == [shown]


def test_popular_reads_only_the_latest_purchase_lines(
    app_context, make_item, monkeypatch, make_users, buy
):
    old_hit, recent = make_item(), make_item()
    users = [user_id for user_id, _ in make_users(4)]
    for user_id in users:
        buy(user_id, old_hit, at=100)
    buy(users[0], recent, at=10)
    assert ids(popular()) == [old_hit, recent]
    monkeypatch.setattr(recommendations, "POPULAR_LINES", 2)
    assert ids(popular()) == [recent, old_hit]  # old_hit: one line in the window


# --- the item page ----------------------------------------------------------------


def co_purchased_store(make_item, make_user, buy) -> tuple[int, list[int], list[str]]:
    """An item, three items its buyers also bought (in the order they rank),
    and those buyers' names."""
    item = make_item(name="Walnut Tray")
    kettle = make_item(name="Copper Kettle", price_cents=123456, stock=3)
    apron = make_item(name="Linen Apron", price_cents=1999, stock=40)
    board = make_item(name="Cork Board", price_cents=5, stock=1)
    zelda = make_user("Zelda Zimmerman", "zelda@example.com")
    yusuf = make_user("Yusuf Yellowlees", "yusuf@example.com")
    buy(zelda, item, at=50)
    buy(zelda, apron, at=40)
    buy(zelda, kettle, at=30)
    buy(yusuf, item, at=20)
    buy(yusuf, kettle, at=10)
    buy(yusuf, board, at=5)
    return item, [kettle, board, apron], ["Zelda Zimmerman", "Yusuf Yellowlees"]


def test_item_page_links_to_what_its_buyers_also_bought(
    client, make_item, make_user, buy
):
    item, others, _ = co_purchased_store(make_item, make_user, buy)
    html = block(get_html(client, f"/items/{item}"), ALSO_BOUGHT_RE)
    assert "Customers who bought this also bought" in html
    assert item_ids_linked(html) == others
    for text in ("Copper Kettle", "$1,234.56", "3 left", "$19.99", "40 in stock"):
        assert text in html
    assert f'href="/items/{item}"' not in html


@pytest.mark.parametrize("who", ["anonymous", "shopper", "admin"])
def test_also_bought_names_no_buyer(client, make_item, who, make_user, buy):
    item, _, names = co_purchased_store(make_item, make_user, buy)
    if who != "anonymous":
        make_user("Sam Shopper", "sam@example.com", is_admin=who == "admin")
        sign_in(client, "sam@example.com")
    html = get_html(client, f"/items/{item}")
    recommended = block(html, ALSO_BOUGHT_RE)
    for name in names:
        assert name not in recommended
        assert "example.com" not in recommended
        if who != "admin":  # admins see the buyers in their own section
            assert name not in html


# --- the catalogue's "Popular" ----------------------------------------------------


@pytest.fixture
def popular_store(make_item, make_users, make_items, buy) -> list[int]:
    """30 items (two catalogue pages) and a popular one."""
    items = make_items(30, prefix="Bulk")
    for user_id, _ in make_users(2):
        buy(user_id, items[-1])
    return items


def test_popular_shows_above_the_grid_on_the_first_catalogue_page(
    client, popular_store
):
    html = get_html(client, "/items/")
    popular_block = block(html, POPULAR_RE)
    assert item_ids_linked(popular_block) == [popular_store[-1]]
    assert html.index(popular_block) < html.index('aria-label="Items"')
    assert "Popular" in popular_block
    assert "Buyer" not in popular_block
    # The grid below still lists the first page of the catalogue.
    assert item_ids_linked(html.split(popular_block)[1]) == popular_store[:24]


@pytest.mark.parametrize(
    "url",
    ["/items/?page=2", "/items/?q=bulk", "/items/?q=bulk+029", "/items/?sort=price"],
)
def test_popular_shows_only_on_the_first_unfiltered_page(client, popular_store, url):
    assert POPULAR_RE.search(get_html(client, "/items/"))
    html = get_html(client, url)
    assert POPULAR_RE.search(html) is None
    assert 'id="popular-heading"' not in html


def test_catalogue_without_purchases_has_no_popular_block(client, make_item):
    make_item()
    assert POPULAR_RE.search(get_html(client, "/items/")) is None


# --- query budgets ------------------------------------------------------------------


def test_the_item_id_and_sizes_are_written_into_the_sql(app, app_context, make_item):
    """Bound, PostgreSQL's plan for a prepared statement would guess them: it
    would sort all of a best seller's lines instead of reading the latest."""
    item = make_item()
    with count_queries(app) as statements:
        also_bought(item)
        popular()
    co_bought, latest = [s for s in statements if not s.startswith("BEGIN")]
    assert f"= {item}" in co_bought
    assert f"LIMIT {recommendations.SAMPLE_LINES}" in co_bought
    assert f"LIMIT {recommendations.POPULAR_LINES}" in latest


def test_item_page_query_count_is_fixed_with_few_or_many_co_purchases(
    client, make_item, make_items, make_user, buy
):
    one, thirty = make_item(), make_item()
    others = make_items(30, prefix="Bulk")
    buyer, many_buyer = make_user("A", "a@example.com"), make_user("B", "b@x.com")
    buy(buyer, one, others[0])
    buy(many_buyer, thirty, *others)
    html = get_html(client, f"/items/{thirty}")
    assert len(item_ids_linked(block(html, ALSO_BOUGHT_RE))) == 6
    assert (
        queries(client, f"/items/{one}")
        == queries(client, f"/items/{thirty}")
        == ITEM_PAGE_ANONYMOUS
    )


def test_item_page_query_count_is_fixed_with_few_or_many_buyers(
    client, make_item, make_users, buy
):
    one, thirty, other = make_item(), make_item(), make_item()
    for n, (user_id, _) in enumerate(make_users(30)):
        buy(user_id, thirty, other)
        if n == 0:
            buy(user_id, one)
    assert (
        queries(client, f"/items/{one}")
        == queries(client, f"/items/{thirty}")
        == ITEM_PAGE_ANONYMOUS
    )


def test_catalogue_first_page_query_count_is_fixed_with_popular_items(
    client, make_item, make_users, make_items, buy
):
    first = make_item()
    assert queries(client, "/items/") == CATALOGUE_ANONYMOUS
    (user_id, _), *_ = make_users(1)
    buy(user_id, first)
    one_popular = queries(client, "/items/")
    for n, (user_id, _) in enumerate(make_users(30, prefix="fan")):
        buy(user_id, *make_items(1, prefix="Bulk"), at=n)
    assert POPULAR_RE.search(get_html(client, "/items/"))
    assert one_popular == queries(client, "/items/") == CATALOGUE_ANONYMOUS


def test_popular_is_remembered_for_the_configured_time(make_app, make_item, make_user):
    """The landing page works "Popular" out once per POPULAR_CACHE_SECONDS;
    within that window it runs one statement fewer."""
    cached_app = make_app(POPULAR_CACHE_SECONDS=60)
    client = cached_app.test_client()
    with cached_app.app_context():
        cache.clear()
    try:
        with count_queries(cached_app) as first:
            assert client.get("/items/").status_code == 200
        with count_queries(cached_app) as second:
            assert client.get("/items/").status_code == 200
    finally:
        with cached_app.app_context():
            cache.clear()
    assert len(second) == len(first) - 1


def test_also_bought_is_remembered_per_item(make_app, make_item, make_user, buy):
    """An item page works its "also bought" block out once per
    ALSO_BOUGHT_CACHE_SECONDS; another item's page has its own."""
    shown, other = make_item(name="Kept Lamp"), make_item(name="Other Lamp")
    partner = make_item(name="Partner Rug")
    buyer = make_user()
    buy(buyer, shown, partner)
    buy(buyer, other, partner)
    cached_app = make_app(ALSO_BOUGHT_CACHE_SECONDS=60)
    client = cached_app.test_client()
    with cached_app.app_context():
        cache.clear()
    try:
        with count_queries(cached_app) as first:
            assert "Partner Rug" in client.get(f"/items/{shown}").text
        with count_queries(cached_app) as second:
            assert "Partner Rug" in client.get(f"/items/{shown}").text
        with count_queries(cached_app) as another:
            assert "Partner Rug" in client.get(f"/items/{other}").text
    finally:
        with cached_app.app_context():
            cache.clear()
    assert len(second) == len(first) - 1
    assert len(another) == len(first)


def test_an_unreachable_cache_costs_the_work_not_the_page(
    make_app, make_item, make_user, monkeypatch, buy
):
    """With the cache down (Redis unreachable), the blocks and counts are worked
    out on each request and every page still answers."""
    item = make_item(name="Kept Lamp")
    buy(make_user(), item, make_item(name="Partner Rug"))
    cached_app = make_app(
        POPULAR_CACHE_SECONDS=60,
        ALSO_BOUGHT_CACHE_SECONDS=60,
        SEARCH_COUNT_CACHE_SECONDS=60,
    )

    def down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    client = cached_app.test_client()
    for url in ("/items/", f"/items/{item}", "/items/?q=lamp"):
        assert client.get(url).status_code == 200, url
    assert "Partner Rug" in client.get(f"/items/{item}").get_data(as_text=True)
