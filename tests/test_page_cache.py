"""The anonymous page cache (app/page_cache.py) never shows an old price or stock.

Pages are kept per process under the page version the database bumps
(migration 0014). Each way a shown item can change is written here, through
the store's own forms where a person would, and every kept page (catalogue,
item page, search, sort, "Popular") must show the item as it now is: in one
process, and across two gunicorn processes that both kept the old page.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from flask import Flask, request, request_started

from app import page_cache
from app.extensions import cache, db
from app.limits import LOW_STOCK_SHOWN
from app.models import Item, User
from app.money import money
from tests.helpers import (
    CSRF_RE,
    cancel_order,
    cart_count,
    client_for,
    count,
    count_queries,
    csrf_token_from,
    get_html,
    html_of,
    import_file,
    ours,
    place_order,
    post_form,
    post_review,
    set_item,
)
from tests.test_production_server import NO_CONTROL_SOCKET, gunicorn_store

WORD = "walnut"
# Every anonymous page that shows the watched item: the catalogue (with
# "Popular"), a search, another order, and its own page.
PAGES = ("/items/", f"/items/?q={WORD}", "/items/?sort=price", "/items/?sort=-price")
CACHED = {
    "PAGE_CACHE_ENTRIES": 64,
    # As in production: the blocks' rankings are remembered too.
    "POPULAR_CACHE_SECONDS": 60,
    "ALSO_BOUGHT_CACHE_SECONDS": 60,
    "SEARCH_COUNT_CACHE_SECONDS": 60,
}
CARD_RE = r'href="/items/{id}">[^<]*</a></h\d>\s*<p class="price">([^<]+)</p>.*?<p class="card-stock">(.*?)</p>'
DETAIL_RE = re.compile(
    r'<span class="price big">([^<]+)</span> · (<span[^>]*>[^<]*</span>)'
)
TAG_RE = re.compile(r"<[^>]+>")


def text(html: str) -> str:
    return TAG_RE.sub("", html).strip()


def stock_text(stock: int) -> str:
    """What app/templating.py's stock_label says of `stock`."""
    if stock <= 0:
        return "Out of stock"
    return f"Only {stock} left" if stock <= LOW_STOCK_SHOWN else f"{stock} in stock"


def cards(html: str, item_id: int) -> list[tuple[str, str]]:
    """Every card of the item on a page: (price, stock) as shown."""
    found = re.findall(CARD_RE.format(id=item_id), html, re.S)
    return [(price, text(stock)) for price, stock in found]


def shown(visit, item_id: int) -> dict[str, list[tuple[str, str]] | None]:
    """What each page shows of the item; the item page's own line, or None
    when the item page is not found."""
    seen: dict[str, list[tuple[str, str]] | None] = {}
    for path in PAGES:
        status, html = visit(path)
        assert status == 200, path
        seen[path] = cards(html, item_id)
    status, html = visit(f"/items/{item_id}")
    if status == 404:
        seen["item"] = None
    else:
        assert status == 200
        match = DETAIL_RE.search(html)
        seen["item"] = [(match.group(1), text(match.group(2)))]
    return seen


def now_in(db_app: Flask, item_id: int) -> tuple[str, str, bool]:
    """The item's price, stock (as a card shows them) and whether it is live."""
    with db_app.app_context():
        item = db.session.get(Item, item_id)
        return (
            money(item.price_cents),
            stock_text(item.stock),
            item.archived_at is None,
        )


def assert_current(seen: dict, db_app: Flask, item_id: int, where: str) -> None:
    price, stock, live = now_in(db_app, item_id)
    if not live:
        assert seen["item"] is None, where
        assert all(not found for found in seen.values() if found is not None), where
        return
    assert seen["item"] == [(price, stock)], where
    for path in PAGES:
        if path == "/items/" and stock == "Out of stock":
            # Sold out: still listed, no longer "Popular".
            assert (price, stock) in seen[path], (where, path)
        assert seen[path], (where, path, "the item is not on the page")
        assert set(seen[path]) == {(price, stock)}, (where, path, seen[path])


@pytest.fixture
def cached_app(make_app) -> Iterator[Flask]:
    app = make_app(**CACHED)
    with app.app_context():
        cache.clear()
    yield app
    with app.app_context():
        cache.clear()


@pytest.fixture
def watched(make_item, make_items) -> int:
    """A walnut item among a few others, all on the catalogue's first page."""
    make_items(5, prefix="Walnut Shelf")
    return make_item(name="Walnut Lamp", price_cents=1250, stock=10)


def test_kept_pages_cost_one_statement_and_answer_304(cached_app, watched):
    """Proof the pages are kept: a second view runs only the version's
    statement, and a browser that has the page is answered 304."""
    visitor = cached_app.test_client()
    for path in (*PAGES, f"/items/{watched}"):
        first = visitor.get(path)
        assert first.status_code == 200 and first.headers["ETag"], path
        with count_queries(cached_app) as statements:
            again = visitor.get(path)
        assert again.status_code == 200
        assert len(ours(statements)) == 1, statements
        assert "page_versions" in ours(statements)[0]
        assert "no-store" not in again.headers["Cache-Control"]
        etag = again.headers["ETag"]
        revalidated = visitor.get(path, headers={"If-None-Match": etag})
        assert revalidated.status_code == 304, path
        assert revalidated.data == b""


@pytest.mark.parametrize("kind", ["returning", "new"])
def test_no_visitor_is_shown_an_old_price_or_stock(
    cached_app, watched, make_user, make_item, kind
):
    """Every write that changes the item, each after both pages were kept.
    A returning visitor sends back the session the item page's form began
    (Flask answers from the kept pages); a new visitor sends no cookie at all,
    each view (SharedPages answers before Flask)."""
    visitor = cached_app.test_client()

    def visit(path: str) -> tuple[int, str]:
        client = visitor if kind == "returning" else cached_app.test_client()
        response = client.get(path)
        return response.status_code, html_of(response)

    admin_id = make_user(name="Ada Admin", email="ada@example.com", is_admin=True)
    shopper_id = make_user(name="Sam", email="sam@example.com")
    assert admin_id and shopper_id
    admin = client_for(cached_app, "ada@example.com")
    shopper = client_for(cached_app, "sam@example.com")
    etag = visitor.get(f"/items/{watched}").headers["ETag"]
    shown(visit, watched)  # every page kept

    def after(where: str) -> None:
        nonlocal etag
        seen = shown(visit, watched)
        assert_current(seen, cached_app, watched, where)
        assert shown(visit, watched) == seen, where  # kept, and still right
        if seen["item"] is not None:
            # A browser holding the old page is sent the new one, not a 304.
            response = visitor.get(f"/items/{watched}", headers={"If-None-Match": etag})
            assert response.status_code == 200, where
            etag = response.headers["ETag"]
            unchanged = {"If-None-Match": etag}
            assert (
                visitor.get(f"/items/{watched}", headers=unchanged).status_code == 304
            )

    number = place_order(shopper, {watched: 2})  # a checkout takes stock
    after("a checkout took 2")
    # A review changes the rating every card and the item page show.
    rated = "4.0 out of 5 (1 review)"
    pages = (*PAGES, f"/items/{watched}")
    assert not any(rated in get_html(visitor, path) for path in pages)
    assert (
        post_review(shopper, watched, rating="4", title="Warm light").status_code == 302
    )
    for path in pages:
        assert rated in get_html(visitor, path), ("a review", path)
    assert "Warm light" in get_html(visitor, f"/items/{watched}")
    response = post_form(
        admin,
        f"/items/{watched}/edit",
        {"name": "Walnut Lamp", "description": "A fine thing.", "price": "9.75",
         "stock": "8"},
    )  # fmt: skip
    assert response.status_code == 302, html_of(response)
    after("an admin's edit of the price")
    import_file(
        admin,
        f"id,name,description,price,stock\n{watched},Walnut Lamp,A fine thing.,8.40,4\n",
    )
    after("a CSV import")
    response = cancel_order(shopper, number)
    assert response.status_code == 302, html_of(response)
    after("a cancellation's restock")
    set_item(cached_app, watched, price_cents=777, stock=0)  # psql, another process
    after("a write outside the store")
    set_item(cached_app, watched, stock=3)
    after("back in stock")
    make_item(name="Walnut Clock", price_cents=100)  # a new item on every page
    assert "Walnut Clock" in get_html(visitor, "/items/?sort=price")
    response = post_form(admin, f"/items/{watched}/archive", page=f"/items/{watched}")
    assert response.status_code == 302
    after("an archive")


def test_a_visitor_without_cookies_is_answered_before_flask(cached_app, watched):
    """The second cookie-less view of a page without a form: the version's one
    statement, no request through Flask (no request_started signal), the
    same bytes, each response with its own request id; the body compressed
    for a browser that asks, and never one encoding's body for another."""
    started: list[str] = []

    def record(sender, **extra):
        started.append(request.path)

    plain = {"Accept-Encoding": "identity"}
    gzipped = {"Accept-Encoding": "gzip"}
    for path in PAGES:
        first = cached_app.test_client().get(path, headers=plain)
        cached_app.test_client().get(path, headers=gzipped)
        with request_started.connected_to(record, cached_app):
            with count_queries(cached_app) as statements:
                again = cached_app.test_client().get(path, headers=plain)
            zipped = cached_app.test_client().get(path, headers=gzipped)
        assert started == [], path
        assert len(ours(statements)) == 1 and "page_versions" in ours(statements)[0]
        assert again.status_code == 200 and again.data == first.data, path
        assert "Set-Cookie" not in again.headers
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
        assert "Content-Security-Policy" in again.headers
        assert zipped.headers.get("Content-Encoding") == "gzip", path
        assert gzip.decompress(zipped.data) == first.data
        assert "Content-Encoding" not in again.headers


def test_a_visitor_with_a_session_goes_through_flask(cached_app, watched):
    """A session may hold a cart or a message, and a page with a form holds
    the session's own token: a visitor with one is never answered from the
    shared pages. The item page's form is shared by visitors without cookies
    (the visitor token), so their item page is answered before Flask too."""
    started: list[str] = []

    def record(sender, **extra):
        started.append(request.path)

    item = f"/items/{watched}"
    for path in (item, item, "/items/"):
        cached_app.test_client().get(path)
    returning = cached_app.test_client()
    get_html(returning, "/users/login")  # begins a session (its form's token)
    assert returning.get_cookie("session") is not None
    for _ in range(2):
        returning.get("/items/")
    with request_started.connected_to(record, cached_app):
        new = [get_html(cached_app.test_client(), item) for _ in range(2)]
        cached_app.test_client().get("/items/")
        own = csrf_token_from(get_html(returning, item))
        returning.get("/items/")
        cached_app.test_client().head("/items/")
        cached_app.test_client().get("/items/", headers={"If-None-Match": "x"})
    assert started == [item, "/items/", "/items/", "/items/"], started
    assert new[0] == new[1] and csrf_token_from(new[0]) != own
    assert (
        returning.post(  # the session's own token works, the new one's not
            "/purchases/cart",
            data={"csrf_token": own, "item_id": watched, "quantity": 1},
        ).status_code
        == 302
    )
    assert (
        returning.post(
            "/purchases/cart",
            data={
                "csrf_token": csrf_token_from(new[0]),
                "item_id": watched,
                "quantity": 1,
            },
        ).status_code
        == 400
    )


def test_visitors_without_cookies_share_a_token_good_for_the_cart_alone(
    cached_app, watched, make_user
):
    """The visitor token (app/csrf.py) is the same for every visitor without
    cookies, starts no session, and is taken only by adding to the cart from
    a request without the store's cookies: not by signing in or up, and not
    from a visitor who has a session of their own."""
    make_user(name="Ada", email="ada@example.com")
    first, second = cached_app.test_client(), cached_app.test_client()
    tokens = [
        csrf_token_from(get_html(v, f"/items/{watched}")) for v in (first, second)
    ]
    assert tokens[0] == tokens[1]
    assert first.get_cookie("session") is None
    visitor_token = tokens[0]
    users = count(cached_app, User)
    login = {"email": "ada@example.com", "password": "correct horse battery"}
    for path, data in (
        ("/users/login", login),
        (
            "/users/register",
            {
                "name": "Eve",
                "email": "eve@example.com",
                "password": "x" * 12,
                "password_confirm": "x" * 12,
            },
        ),
    ):
        refused = cached_app.test_client().post(
            path, data={"csrf_token": visitor_token, **data}
        )
        assert refused.status_code == 400, path
    assert count(cached_app, User) == users  # Eve was not signed up
    added = first.post(
        "/purchases/cart",
        data={"csrf_token": visitor_token, "item_id": watched, "quantity": 1},
    )
    assert added.status_code == 302 and first.get_cookie("session") is not None
    again = first.post(  # now a session: its own token, not the visitor's
        "/purchases/cart",
        data={"csrf_token": visitor_token, "item_id": watched, "quantity": 1},
    )
    assert again.status_code == 400
    assert cart_count(get_html(first, "/purchases/cart")) == 1
    own = csrf_token_from(get_html(first, f"/items/{watched}"))
    assert own != visitor_token
    assert (
        first.post(
            "/purchases/cart",
            data={"csrf_token": own, "item_id": watched, "quantity": 1},
        ).status_code
        == 302
    )
    assert cart_count(get_html(first, "/purchases/cart")) == 2
    over_https = {"csrf_token": visitor_token, "item_id": watched, "quantity": 1}
    no_referrer = second.post(
        "/purchases/cart", data=over_https, base_url="https://localhost"
    )
    assert no_referrer.status_code == 400  # WTF_CSRF_SSL_STRICT, as for any token
    assert (
        second.post(
            "/purchases/cart",
            data=over_https,
            base_url="https://localhost",
            headers={"Referer": "https://localhost/items/"},
        ).status_code
        == 302
    )
    second = cached_app.test_client()
    forged = second.post(
        "/purchases/cart",
        data={"csrf_token": visitor_token + "x", "item_id": watched, "quantity": 1},
    )
    assert forged.status_code == 400 and second.get_cookie("session") is None


def test_a_kept_pages_forms_post_where_the_visitor_token_is_taken(
    cached_app, watched, make_user
):
    """Every form a visitor without cookies is shown on a kept page posts to a
    view that takes the visitor token: otherwise its form would fail."""
    make_user(name="Sam", email="sam@example.com")
    place_order(client_for(cached_app, "sam@example.com"), {watched: 1})
    csrf = cached_app.extensions["csrf"]
    adapter = cached_app.url_map.bind("localhost")
    with cached_app.app_context():
        out_of_stock = db.session.scalar(sa.select(Item.id).where(Item.id != watched))
    set_item(cached_app, out_of_stock, stock=0)
    pages = (*PAGES, f"/items/{watched}", f"/items/{out_of_stock}")
    posted = 0
    for path in pages:
        html = get_html(cached_app.test_client(), path)
        for action in re.findall(r'<form method="post" action="([^"]+)"', html):
            endpoint, _ = adapter.match(action, method="POST")
            view = cached_app.view_functions[endpoint]
            assert csrf.takes_visitor_token(view), (path, action)
            posted += 1
    assert posted >= 2


def test_popular_shows_the_price_and_stock_of_now(cached_app, watched, make_user):
    """The landing page's "Popular" ranking is remembered; its cards are not."""
    make_user(name="Sam", email="sam@example.com")
    shopper = client_for(cached_app, "sam@example.com")
    place_order(shopper, {watched: 1})
    visitor = cached_app.test_client()
    assert len(cards(get_html(visitor, "/items/"), watched)) == 2  # listed, popular
    set_item(cached_app, watched, price_cents=4321, stock=2)
    assert (
        cards(get_html(visitor, "/items/"), watched) == [("$43.21", stock_text(2))] * 2
    )


def test_each_visitor_with_a_session_gets_their_own_csrf_token(cached_app, watched):
    """The kept item page is written out with each session's own token: each
    can add to the cart with it, and one visitor's token fails for another."""
    first, second = cached_app.test_client(), cached_app.test_client()
    for visitor in (first, second):  # a session each
        get_html(visitor, "/users/login")
    tokens = []
    for visitor in (first, second, first):
        tokens.append(csrf_token_from(get_html(visitor, f"/items/{watched}")))
    assert tokens[0] != tokens[1]
    refused = second.post(
        "/purchases/cart",
        data={"csrf_token": tokens[0], "item_id": watched, "quantity": 1},
    )
    assert refused.status_code == 400
    for visitor, token in ((first, tokens[2]), (second, tokens[1])):
        added = visitor.post(
            "/purchases/cart",
            data={"csrf_token": token, "item_id": watched, "quantity": 1},
        )
        assert added.status_code == 302
    assert page_cache.PLACEHOLDER not in get_html(first, f"/items/{watched}")
    assert page_cache.PLACEHOLDER not in get_html(
        cached_app.test_client(), f"/items/{watched}"
    )


def test_a_cart_or_an_account_is_never_served_a_kept_page(
    cached_app, watched, make_user
):
    visitor = cached_app.test_client()
    get_html(visitor, f"/items/{watched}")  # kept, with an empty cart
    token = csrf_token_from(get_html(visitor, f"/items/{watched}"))
    visitor.post(
        "/purchases/cart", data={"csrf_token": token, "item_id": watched, "quantity": 2}
    )
    html = get_html(visitor, f"/items/{watched}")
    assert 'Cart <span class="badge">2</span>' in html
    make_user(name="Grace Admin", email="grace@example.com", is_admin=True)
    admin = client_for(cached_app, "grace@example.com")
    assert "Edit" in get_html(admin, f"/items/{watched}")
    assert 'Cart <span class="badge">0</span>' in get_html(
        cached_app.test_client(), f"/items/{watched}"
    )


# --- across processes -------------------------------------------------------------------

ACCESS_FORMAT = "served-by %(p)s %(r)s %(s)s"


def served_by(log: str) -> dict[str, set[str]]:
    """Which worker pids answered each path (with its query), from the access log."""
    seen: dict[str, set[str]] = {}
    for pid, path, status in re.findall(r"served-by <(\d+)> GET (\S+) \S+ (\d+)", log):
        if status == "200":
            seen.setdefault(path, set()).add(pid)
    return seen


def test_two_gunicorn_processes_never_show_an_old_price(
    app, database_uri, tmp_path, watched, make_user
):
    """Both workers keep the pages; a write through one worker, and one from a
    third process, are seen by every view from either worker."""
    make_user(name="Ada Admin", email="ada@example.com", is_admin=True)
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=2,
        threads=1,
        extra_args=(*NO_CONTROL_SOCKET, "--access-logformat", ACCESS_FORMAT),
        LOGIN_RATE_LIMIT="1000 per minute",
        GUNICORN_ACCESSLOG="-",
    ) as server:
        paths = (*PAGES, f"/items/{watched}")

        def visit(path: str) -> tuple[int, str]:
            reply = server.browser().get(path)  # a new visitor, no cookies
            return reply.status, reply.text

        def views_from_both_workers(where: str) -> None:
            """Views until both workers served (and so kept) every page; each
            must show the item as the database has it."""
            start = len(server.log_text())
            for _ in range(20):
                # Visitors four at a time, so that both workers answer.
                with ThreadPoolExecutor(4) as pool:
                    views = list(pool.map(lambda _: shown(visit, watched), range(4)))
                for seen in views:
                    assert_current(seen, app, watched, where)
                workers = served_by(server.log_text()[start:])
                if all(len(workers.get(p, ())) == 2 for p in paths):
                    return
            pytest.fail(f"{where}: the two workers did not both serve every page")

        views_from_both_workers("first views")
        admin = server.browser()
        html = admin.get("/users/login").text
        token = CSRF_RE.search(html).group(1)
        signed = admin.post(
            "/users/login",
            {"csrf_token": token, "email": "ada@example.com",
             "password": "correct-horse-battery"},
        )  # fmt: skip
        assert signed.status == 302
        edited = admin.submit(
            f"/items/{watched}/edit",
            f"/items/{watched}/edit",
            {"name": "Walnut Lamp", "description": "A fine thing.", "price": "6.10",
             "stock": "7"},
        )  # fmt: skip
        assert edited.status == 302, edited.text
        views_from_both_workers("an admin's edit through one worker")
        set_item(app, watched, price_cents=505, stock=1)  # a third process
        views_from_both_workers("a write from another process")
        with app.app_context():
            db.session.execute(
                sa.update(Item).where(Item.id == watched).values(stock=Item.stock - 1)
            )
            db.session.commit()
        views_from_both_workers("the last unit taken")
