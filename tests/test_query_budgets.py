"""Query budgets: each shopper page runs a fixed number of SQL statements, the
same with one row as with a full page of rows (no N+1 queries).

Transaction control (the `BEGIN` the SQLite engine issues itself) is not
counted, so the budgets are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from tests.helpers import (
    add_to_cart,
    checkout,
    checkout_form,
    client_for,
    count_queries,
    ours,
    place_card_order,
    queries,
    sign_in,
    write_review_row,
    write_wish_row,
)


def put_in_cart(client, item_ids: list[int]) -> None:
    with client.session_transaction() as session:
        session["cart"] = {str(item_id): 1 for item_id in item_ids}


# The budgets. A change to any of these is a decision, not an accident.
# The page of items (each card's first picture in the same query), the
# live-item total, popular items, and the top-level categories' counts.
CATALOGUE_ANONYMOUS = 4
CATALOGUE_SIGNED_IN = 5  # + the signed-in user
CATALOGUE_FILTERED = 3  # a search or a later page: no popular items
# + which of the page's items are on the wishlist (only for a user who has any)
CATALOGUE_WISHER = 6
# A category: the category and its ancestors (the breadcrumbs, one recursive
# query), its children's counts (which give the total too), the page.
CATALOGUE_CATEGORY = 3
# The item, its pictures, what its buyers also bought (an item without
# reviews reads none).
ITEM_PAGE_ANONYMOUS = 3
# + the user, and one query for "did you buy it, and your review if any"
ITEM_PAGE_SIGNED_IN = 5
# + the page of reviews with their reviewers' names (one query, whatever the
# reviews; their total is the item's running count)
ITEM_PAGE_REVIEWED = 4
ITEM_PAGE_REVIEWED_SIGNED_IN = 6
# + which of the item and its also-bought cards are on the wishlist
ITEM_PAGE_WISHER = 7
ITEM_PAGE_IN_A_CATEGORY = 1  # + its breadcrumbs (one recursive query)
# The wishlist: the user, the wished items with their price and stock.
WISHLIST = 2
CART_ANONYMOUS = 1  # every line's item in one query
CART_SIGNED_IN = 2  # + the user
# The shopper's orders: the user, the page of orders, every line of those
# orders (one IN query), and the count of their orders for the page links.
HISTORY = 4
PROFILE = 5  # user, items bought with totals, their count, the summary, recent lines
# An order's page: the user, the order, its lines with their items (one query),
# those items' pictures for the thumbnails (one query), its events with who
# made them (one query), and the shop's settings (the bank details shown
# while a bank transfer is awaited).
ORDER = 6
# The checkout page: the user, every cart line's item (one query), the delivery
# methods, the shop's settings (the tax rate), the shopper's saved addresses.
CHECKOUT_PAGE = 5
# The admin's order list: the user, the tabs' counts by status (one grouped
# count), the page of 50 orders with their customers joined in.
ADMIN_ORDERS = 3
# Placing the order: the user, "was this order placed already?", the delivery
# methods, the shop's settings and the saved addresses (the form's choices,
# and the page to draw again if something changed), stock taken and every
# price checked in one UPDATE (the cart's items are not read before it), the
# delivery method and the tax rate read again inside the write transaction,
# the order, its lines (one INSERT), its first event, and its email in the
# outbox: the order and its lines read back to write it, one INSERT.
# PostgreSQL first locks the cart's rows in id order (one SELECT ... FOR UPDATE).
CHECKOUT = {"sqlite": 14, "postgresql": 15}
# The card step, once the order has its PaymentIntent: the user, the order,
# its payment row (the intent itself is read from the provider, not the
# database).
CARD_STEP = 3


def test_catalogue_query_count_is_fixed_for_anonymous_visitors(
    client, make_item, make_items
):
    make_item()
    one = queries(client, "/items/")
    make_items(40, prefix="Bulk")
    full_page = queries(client, "/items/")
    assert one == full_page == CATALOGUE_ANONYMOUS
    searched = queries(client, "/items/?q=bulk&sort=-price&page=2")
    assert searched == queries(client, "/items/?page=2") == CATALOGUE_FILTERED


def test_catalogue_query_count_is_fixed_when_signed_in(
    client, shopper, make_item, make_items
):
    make_item()
    one = queries(client, "/items/")
    make_items(40, prefix="Bulk")
    assert one == queries(client, "/items/") == CATALOGUE_SIGNED_IN


def test_item_page_query_count_is_fixed(client, make_item, make_purchase, make_users):
    item_id = make_item()
    assert queries(client, f"/items/{item_id}") == ITEM_PAGE_ANONYMOUS
    for buyer, _ in make_users(2):
        make_purchase(buyer, item_id)
    sign_in(client, "buyer0@example.com")
    assert queries(client, f"/items/{item_id}") == ITEM_PAGE_SIGNED_IN


def test_item_page_query_count_does_not_grow_with_reviews_or_wishes(
    app, client, make_item, make_purchase, make_users
):
    item_id = make_item()
    users = make_users(12)
    write_review_row(app, users[0][0], item_id, 4)
    one = queries(client, f"/items/{item_id}")
    for user_id, _ in users[1:]:
        write_review_row(app, user_id, item_id, 5)
    assert one == queries(client, f"/items/{item_id}") == ITEM_PAGE_REVIEWED
    assert queries(client, f"/items/{item_id}?reviews_page=2") == ITEM_PAGE_REVIEWED
    sign_in(client, "buyer0@example.com")
    assert queries(client, f"/items/{item_id}") == ITEM_PAGE_REVIEWED_SIGNED_IN
    write_wish_row(app, users[0][0], item_id)
    assert queries(client, f"/items/{item_id}") == ITEM_PAGE_WISHER


def test_catalogue_and_wishlist_query_counts_do_not_grow_with_wishes(
    app, client, shopper, make_items
):
    item_ids = make_items(30, prefix="Bulk")
    write_wish_row(app, shopper, item_ids[0])
    one = queries(client, "/items/")
    one_wish = queries(client, "/users/wishlist")
    for item_id in item_ids[1:]:
        write_wish_row(app, shopper, item_id)
    assert one == queries(client, "/items/") == CATALOGUE_WISHER
    assert one_wish == queries(client, "/users/wishlist") == WISHLIST


def test_catalogue_query_count_is_fixed_whatever_the_pictures_and_categories(
    app, client, make_item, make_items, make_category
):
    from tests.helpers import add_picture, set_item

    first = make_item(name="Aaa First")
    bare = queries(client, "/items/")
    home = make_category("Home")
    parent = home
    for depth in range(4):  # a deep tree: Home > Level 0 > Level 1 > ...
        parent = make_category(f"Level {depth}", parent_id=parent)
        for n in range(3):
            make_category(f"Shelf {depth}.{n}", parent_id=parent)
    ids = make_items(30, prefix="Bulk")
    for item_id in ids[:10]:
        add_picture(app, item_id, color=(item_id % 255, 0, 0))
        set_item(app, item_id, category_id=parent)
    add_picture(app, first)
    assert queries(client, "/items/") == bare == CATALOGUE_ANONYMOUS
    assert queries(client, "/items/?category=home") == CATALOGUE_CATEGORY
    assert queries(client, "/items/?category=level-3&in_stock=1&min_price=1") == (
        CATALOGUE_CATEGORY
    )
    assert queries(client, "/items/?q=bulk&page=2") == CATALOGUE_FILTERED


def test_item_page_query_count_is_fixed_whatever_the_pictures(
    app, client, make_item, make_category
):
    from tests.helpers import add_picture, set_item

    item_id = make_item()
    none = queries(client, f"/items/{item_id}")
    for n in range(4):
        add_picture(app, item_id, color=(0, n * 50, 0))
    assert queries(client, f"/items/{item_id}") == none == ITEM_PAGE_ANONYMOUS
    top = make_category("Top")
    deep = make_category("Deep", parent_id=make_category("Middle", parent_id=top))
    set_item(app, item_id, category_id=deep)
    assert queries(client, f"/items/{item_id}") == (
        ITEM_PAGE_ANONYMOUS + ITEM_PAGE_IN_A_CATEGORY
    )


def test_cart_query_count_does_not_grow_with_lines(client, make_item, make_items):
    put_in_cart(client, [make_item()])
    one = queries(client, "/purchases/cart")
    put_in_cart(client, make_items(10, prefix="Bulk"))
    ten = queries(client, "/purchases/cart")
    assert one == ten == CART_ANONYMOUS


def test_signed_in_cart_query_count_does_not_grow_with_lines(
    client, shopper, make_item, make_items
):
    put_in_cart(client, [make_item()])
    one = queries(client, "/purchases/cart")
    put_in_cart(client, make_items(10, prefix="Bulk"))
    ten = queries(client, "/purchases/cart")
    assert one == ten == CART_SIGNED_IN


def test_history_query_count_does_not_grow_with_orders_or_lines(
    client, shopper, make_purchase, make_items
):
    item_ids = make_items(20, prefix="Bulk")
    make_purchase(shopper, item_ids[0])
    one = queries(client, "/purchases/")
    for item_id in item_ids[1:]:
        make_purchase(shopper, item_id)
    twenty = queries(client, "/purchases/")  # a full page of orders
    put_in_cart(client, item_ids[:10])
    assert checkout(client).status_code == 302  # one order of ten lines more
    with_ten_lines = queries(client, "/purchases/")
    assert one == twenty == with_ten_lines == HISTORY


def test_profile_query_count_does_not_grow_with_items(
    client, shopper, make_purchase, make_items
):
    item_ids = make_items(20, prefix="Bulk")
    make_purchase(shopper, item_ids[0])
    one = queries(client, f"/users/{shopper}")
    for item_id in item_ids[1:]:
        make_purchase(shopper, item_id, quantity=2)
    twenty = queries(client, f"/users/{shopper}")
    assert one == twenty == PROFILE


def test_admin_order_list_query_count_does_not_grow_with_orders(
    client, admin, make_user, make_purchase, make_items
):
    item_ids = make_items(3, prefix="Bulk")
    buyers = [make_user(email=f"buyer{n}@example.com") for n in range(6)]
    make_purchase(buyers[0], item_ids[0])
    one = queries(client, "/purchases/orders/")
    for n in range(59):  # past a page of 50, from several customers
        make_purchase(buyers[n % 6], item_ids[n % 3])
    sixty = queries(client, "/purchases/orders/")
    second_page = queries(client, "/purchases/orders/?page=2")
    a_tab = queries(client, "/purchases/orders/?status=paid")
    assert one == sixty == second_page == a_tab == ADMIN_ORDERS


def test_order_page_query_count_does_not_grow_with_lines(client, shopper, make_items):
    item_ids = make_items(10, prefix="Bulk")
    add_to_cart(client, item_ids[0])
    one_line = checkout(client).headers["Location"]
    for item_id in item_ids:
        add_to_cart(client, item_id)
    ten_lines = checkout(client).headers["Location"]
    assert queries(client, one_line) == queries(client, ten_lines) == ORDER


def test_checkout_page_query_count_does_not_grow_with_lines(
    client, shopper, make_items
):
    put_in_cart(client, make_items(1, prefix="One"))
    one = queries(client, "/purchases/checkout")
    put_in_cart(client, make_items(50, prefix="Bulk"))  # a full cart (MAX_CART_LINES)
    fifty = queries(client, "/purchases/checkout")
    assert one == fifty == CHECKOUT_PAGE


def checkout_queries(client, item_ids: list[int]) -> int:
    """SQL statements run by the checkout POST of a cart holding `item_ids`."""
    put_in_cart(client, item_ids)
    form = checkout_form(client)
    with count_queries(client.application) as statements:
        response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/purchases/orders/")
    return len(ours(statements))


def test_checkout_query_count_does_not_grow_with_lines(
    client, shopper, engine_name, make_items
):
    one = checkout_queries(client, make_items(1, prefix="Bulk"))
    # A full cart (MAX_CART_LINES).
    fifty = checkout_queries(client, make_items(50, prefix="Bulk"))
    assert one == fifty == CHECKOUT[engine_name]


def test_card_step_query_count_does_not_grow_with_lines(
    card_app, local_stripe, make_user, make_items
):
    make_user(name="Sam Shopper", email="sam@example.com")
    shopper = client_for(card_app, "sam@example.com")
    item_ids = make_items(10, prefix="Bulk")
    one_line = place_card_order(shopper, {item_ids[0]: 1})
    ten_lines = place_card_order(shopper, dict.fromkeys(item_ids, 1))
    for number in (one_line, ten_lines):  # the first visit makes the intent
        assert shopper.get(f"/purchases/payments/{number}/card").status_code == 200
    assert (
        queries(shopper, f"/purchases/payments/{one_line}/card")
        == queries(shopper, f"/purchases/payments/{ten_lines}/card")
        == CARD_STEP
    )
