"""Reviews (CONTRACT "Reviews and wishlist"): only a buyer whose order was not
cancelled or refunded may write one, once; the item's rating totals are kept
by the database, exact after edits, deletions and hides, however the writes
race; the page, the cards and the rating sort show them.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.items.ratings import reviewer_name
from app.models import Item, Review, User
from tests.helpers import (
    GOOD_ITEM,
    assert_ratings_match_reviews,
    cancel_order,
    client_for,
    count,
    csrf_token_from,
    edit_review,
    flashes,
    get_html,
    html_of,
    place_order,
    post_form,
    post_review,
    rating_totals,
    refund_order,
    review_form,
    set_item,
    store_state,
    write_review_row,
)
from tests.test_order_races import Side, race

NOT_BOUGHT = "Only customers who bought this item"


def reviews_of(app, item_id: int) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            sa.select(Review.user_id, Review.rating, Review.title, Review.body)
            .where(Review.item_id == item_id)
            .order_by(Review.id)
        ).all()


# --- who may review ---------------------------------------------------------------


def test_a_buyer_reviews_and_the_item_page_shows_it(app, store):
    olive = client_for(app, "olive@example.com")
    page = get_html(olive, f"/items/{store['lamp']}")
    assert 'name="rating"' in page and "Write a review" in page
    response = post_review(olive, store["lamp"], rating="4", title="Warm light")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/items/{store['lamp']}#reviews")
    assert reviews_of(app, store["lamp"]) == [
        (store["olive"], 4, "Warm light", "Lights the room.")
    ]
    assert rating_totals(app, store["lamp"]) == (1, 4)
    html = get_html(app.test_client(), f"/items/{store['lamp']}")
    assert "4.0 out of 5 (1 review)" in html
    assert "★★★★☆" in html
    assert "Warm light" in html and "Olive O." in html
    assert "Olive Other" not in html and "olive@example.com" not in html
    # The buyer now sees their review's links, not the form.
    page = get_html(olive, f"/items/{store['lamp']}")
    assert 'name="rating"' not in page and "Edit your review" in page


def test_a_non_buyer_is_refused_and_nothing_is_written(app, store):
    sam = client_for(app, "sam@example.com")
    page = get_html(sam, f"/items/{store['lamp']}")
    assert 'name="rating"' not in page and NOT_BOUGHT in page
    before = store_state(app)
    response = post_review(sam, store["lamp"])
    assert response.status_code == 403
    assert NOT_BOUGHT in html_of(response)
    assert store_state(app) == before
    # Visitors are sent to sign in, and told who may review.
    anonymous = app.test_client()
    assert "Sign in</a> to write yours" in get_html(
        anonymous, f"/items/{store['lamp']}"
    )
    response = anonymous.post(
        f"/items/{store['lamp']}/reviews",
        data={
            "csrf_token": csrf_token_from(
                get_html(anonymous, f"/items/{store['lamp']}")
            ),
            **review_form(),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/users/login?next=")
    assert store_state(app) == before


def test_a_cancelled_or_refunded_orders_buyer_is_refused(app, store, make_user):
    admin = client_for(app, "admin@example.com")
    sam = client_for(app, "sam@example.com")
    number = place_order(sam, {store["mug"]: 1})
    # An unpaid order counts: Sam may review the mug now...
    assert NOT_BOUGHT not in get_html(sam, f"/items/{store['mug']}")
    assert cancel_order(sam, number).status_code == 302
    # ...and not once the order is cancelled.
    page = get_html(sam, f"/items/{store['mug']}")
    assert 'name="rating"' not in page and NOT_BOUGHT in page
    before = store_state(app)
    assert post_review(sam, store["mug"]).status_code == 403
    assert store_state(app) == before

    # Olive's lamp order, refunded in full, no longer counts either.
    olive = client_for(app, "olive@example.com")
    refunded = refund_order(admin, store["olive_number"], "19.99")
    assert refunded.status_code == 302
    before = store_state(app)
    response = post_review(olive, store["lamp"])
    assert response.status_code == 403 and NOT_BOUGHT in html_of(response)
    assert store_state(app) == before


def test_an_unpaid_orders_buyer_may_review(app, store):
    sam = client_for(app, "sam@example.com")
    place_order(sam, {store["mug"]: 1})
    assert post_review(sam, store["mug"], rating="2").status_code == 302
    assert rating_totals(app, store["mug"]) == (1, 2)


def test_a_second_review_is_refused_and_changes_nothing(app, store):
    olive = client_for(app, "olive@example.com")
    assert post_review(olive, store["lamp"], rating="5").status_code == 302
    before = store_state(app)
    response = post_review(olive, store["lamp"], rating="1", title="Changed my mind")
    assert response.status_code == 409
    assert "reviewed this item already" in html_of(response)
    assert store_state(app) == before
    assert rating_totals(app, store["lamp"]) == (1, 5)


def test_bad_reviews_are_refused_with_a_message_and_write_nothing(app, store):
    olive = client_for(app, "olive@example.com")
    before = store_state(app)
    for fields, message in (
        ({"rating": "0"}, "Choose a rating from 1 to 5"),
        ({"rating": "6"}, "Choose a rating from 1 to 5"),
        ({"rating": "4.5"}, "Choose a rating from 1 to 5"),
        ({"rating": "-1"}, "Choose a rating from 1 to 5"),
        ({"rating": "abc"}, "Choose a rating from 1 to 5"),
        ({"rating": ""}, "Choose a rating from 1 to 5"),
        ({"rating": "9" * 400}, "Choose a rating from 1 to 5"),
        ({"title": ""}, "title of 1 to 120 characters"),
        ({"title": "   "}, "title of 1 to 120 characters"),
        ({"title": "x" * 121}, "title of 1 to 120 characters"),
        ({"body": ""}, "1 to 5,000 characters"),
        ({"body": "y" * 5001}, "1 to 5,000 characters"),
        ({"body": "nul\x00byte"}, "control characters"),
    ):
        response = post_review(olive, store["lamp"], **fields)
        assert response.status_code == 422, fields
        assert message in html_of(response), fields
        assert store_state(app) == before, fields
    # A review of an archived or unknown item: 404, nothing written.
    for item_id in (store["retired"], 999_999):
        response = olive.post(
            f"/items/{item_id}/reviews",
            data={
                "csrf_token": csrf_token_from(get_html(olive, "/items/")),
                **review_form(),
            },
        )
        assert response.status_code == 404
    assert store_state(app) == before


def test_the_database_refuses_a_rating_outside_one_to_five(app, store):
    for rating in (0, 6):
        try:
            write_review_row(app, store["olive"], store["lamp"], rating)
        except sa.exc.IntegrityError:
            pass
        else:
            raise AssertionError(f"rating {rating} was stored")
    assert count(app, Review) == 0


# --- editing, deleting, hiding ----------------------------------------------------


def test_a_buyer_edits_and_deletes_their_review_and_the_average_follows(app, store):
    olive = client_for(app, "olive@example.com")
    post_review(olive, store["lamp"], rating="5")
    page = get_html(olive, f"/items/{store['lamp']}/reviews/edit")
    assert 'value="5"' in page
    response = edit_review(olive, store["lamp"], rating="2", title="Dimmer than hoped")
    assert response.status_code == 302
    assert reviews_of(app, store["lamp"]) == [
        (store["olive"], 2, "Dimmer than hoped", "Lights the room.")
    ]
    assert rating_totals(app, store["lamp"]) == (1, 2)
    before = store_state(app)
    assert edit_review(olive, store["lamp"], rating="7").status_code == 422
    assert store_state(app) == before
    delete = post_form(
        olive,
        f"/items/{store['lamp']}/reviews/withdraw",
        page=f"/items/{store['lamp']}",
    )
    assert delete.status_code == 302
    assert reviews_of(app, store["lamp"]) == []
    assert rating_totals(app, store["lamp"]) == (0, 0)
    # Nothing left to edit or delete: 404.
    assert olive.get(f"/items/{store['lamp']}/reviews/edit").status_code == 404
    sam = client_for(app, "sam@example.com")
    assert sam.get(f"/items/{store['lamp']}/reviews/edit").status_code == 404


def test_an_admin_hides_a_review_and_the_average_and_the_audit_trail_follow(
    app, store, make_users
):
    buyers = make_users(2)
    first = write_review_row(app, buyers[0][0], store["lamp"], 5)
    write_review_row(app, buyers[1][0], store["lamp"], 2)
    assert rating_totals(app, store["lamp"]) == (2, 7)
    admin = client_for(app, "admin@example.com")
    url = f"/items/{store['lamp']}/reviews/{first}/hide"
    response = post_form(admin, url, page=f"/items/{store['lamp']}")
    assert response.status_code == 302
    assert rating_totals(app, store["lamp"]) == (1, 2)
    shopper_page = get_html(app.test_client(), f"/items/{store['lamp']}")
    assert "Rated 5" not in shopper_page and "2.0 out of 5 (1 review)" in shopper_page
    assert "Hidden from shoppers" in get_html(admin, f"/items/{store['lamp']}")
    # Hiding twice changes nothing more.
    before = store_state(app)
    again = post_form(admin, url, page=f"/items/{store['lamp']}")
    assert "hidden already" in " ".join(
        flashes(get_html(admin, again.headers["Location"]))
    )
    assert store_state(app) == before
    show = post_form(
        admin,
        f"/items/{store['lamp']}/reviews/{first}/show",
        page=f"/items/{store['lamp']}",
    )
    assert show.status_code == 302
    assert rating_totals(app, store["lamp"]) == (2, 7)
    with app.app_context():
        actions = db.session.execute(
            sa.text(
                "SELECT action, subject_type, subject_id, actor_id FROM audit_events "
                "ORDER BY id"
            )
        ).all()
    assert actions == [
        ("item.review_hide", "item", store["lamp"], store["admin"]),
        ("item.review_show", "item", store["lamp"], store["admin"]),
    ]
    # A review of another item, or none: 404, nothing written.
    before = store_state(app)
    for bad in (
        f"/items/{store['mug']}/reviews/{first}/hide",
        f"/items/{store['lamp']}/reviews/999/hide",
    ):
        assert post_form(admin, bad, page="/items/").status_code == 404
    assert store_state(app) == before


def test_a_review_never_touches_the_items_other_columns(app, store, make_users):
    """An admin's price edit racing reviews keeps its price: the review's
    write is the trigger's UPDATE of two rating columns, nothing else."""
    buyers = make_users(6)
    for user_id, _ in buyers:
        write_review_row(app, user_id, store["mug"], 3)
    admin = client_for(app, "admin@example.com")
    edit_page = get_html(admin, f"/items/{store['lamp']}/edit")
    post_form(
        admin,
        f"/items/{store['lamp']}/edit",
        {
            **GOOD_ITEM,
            "name": "Lamp",
            "price": "25.00",
            "stock": "4",
            "stock_seen": "4",
        },
        page=f"/items/{store['lamp']}/edit",
    )
    assert edit_page
    with app.app_context():
        lamp = db.session.get(Item, store["lamp"])
        assert (lamp.price_cents, lamp.stock) == (2500, 4)
        mug = db.session.get(Item, store["mug"])
        assert (mug.rating_count, mug.rating_sum, mug.price_cents) == (6, 18, 450)


# --- races --------------------------------------------------------------------------


def test_racing_reviews_edits_hides_and_a_price_edit_keep_the_average_exact(
    app, make_app, store, make_users, make_purchase
):
    """Eight buyers review at once while an admin edits the lamp's price and
    hides an earlier review, and another buyer edits theirs: every review is
    written, the price edit holds, and the totals equal the visible reviews."""
    buyers = make_users(10)
    for user_id, _ in buyers:
        make_purchase(user_id, store["lamp"])
    hidden = write_review_row(app, buyers[8][0], store["lamp"], 1)
    write_review_row(app, buyers[9][0], store["lamp"], 2)
    sides = []
    for i, (_, email) in enumerate(buyers[:8]):
        client = client_for(make_app(), email)
        page = get_html(client, f"/items/{store['lamp']}")
        sides.append(
            Side(
                client,
                f"/items/{store['lamp']}/reviews",
                {
                    "csrf_token": csrf_token_from(page),
                    **review_form(rating=str(i % 5 + 1)),
                },
            )
        )
    editor = client_for(make_app(), buyers[9][1])
    edit_page = get_html(editor, f"/items/{store['lamp']}/reviews/edit")
    sides.append(
        Side(
            editor,
            f"/items/{store['lamp']}/reviews/edit",
            {"csrf_token": csrf_token_from(edit_page), **review_form(rating="5")},
        )
    )
    admin = client_for(make_app(), "admin@example.com")
    admin_page = get_html(admin, f"/items/{store['lamp']}/edit")
    sides.append(
        Side(
            admin,
            f"/items/{store['lamp']}/edit",
            {
                "csrf_token": csrf_token_from(admin_page),
                **GOOD_ITEM,
                "name": "Lamp",
                "price": "31.00",
                "stock": "4",
                "stock_seen": "4",
            },
        )
    )
    hider = client_for(make_app(), "admin@example.com")
    sides.append(
        Side(
            hider,
            f"/items/{store['lamp']}/reviews/{hidden}/hide",
            {"csrf_token": csrf_token_from(get_html(hider, f"/items/{store['lamp']}"))},
        )
    )
    answers = race(sides)
    assert [a.status_code for a in answers] == [302] * len(sides)
    assert_ratings_match_reviews(app)
    expected = sum(i % 5 + 1 for i in range(8)) + 5  # the hidden 1 is out
    assert rating_totals(app, store["lamp"]) == (9, expected)
    with app.app_context():
        assert db.session.get(Item, store["lamp"]).price_cents == 3100


def test_a_racing_second_review_by_the_same_buyer_is_refused(app, make_app, store):
    """The same buyer posts twice at once: the unique key lets one in, the
    other is told it is a second review; one review, counted once."""
    for _ in range(3):
        sides = []
        for _ in range(2):
            client = client_for(make_app(), "olive@example.com")
            page = get_html(client, f"/items/{store['lamp']}")
            sides.append(
                Side(
                    client,
                    f"/items/{store['lamp']}/reviews",
                    {"csrf_token": csrf_token_from(page), **review_form()},
                )
            )
        statuses = sorted(answer.status_code for answer in race(sides))
        assert statuses == [302, 409]
        assert rating_totals(app, store["lamp"]) == (1, 5)
        assert_ratings_match_reviews(app)
        with app.app_context():
            db.session.execute(sa.delete(Review))
            db.session.commit()
        assert rating_totals(app, store["lamp"]) == (0, 0)


def test_a_review_racing_the_cancellation_of_the_only_purchase(app, make_app, store):
    """A buyer reviews while their only order is cancelled: either the review
    came first (written, then the order cancelled) or it is refused; never a
    review counted for a purchase the same instant turned void without one of
    those two orders of events."""
    for round_ in range(3):
        sam = client_for(make_app(), "sam@example.com")
        number = place_order(sam, {store["mug"]: 1})
        canceller = client_for(make_app(), "sam@example.com")
        order_page = get_html(canceller, f"/purchases/orders/{number}")
        item_page = get_html(sam, f"/items/{store['mug']}")
        answers = race(
            [
                Side(
                    sam,
                    f"/items/{store['mug']}/reviews",
                    {"csrf_token": csrf_token_from(item_page), **review_form()},
                ),
                Side(
                    canceller,
                    f"/purchases/orders/{number}/cancel",
                    {"csrf_token": csrf_token_from(order_page)},
                ),
            ]
        )
        assert answers[1].status_code == 302
        assert answers[0].status_code in (302, 403), round_
        assert (count(app, Review) == 1) == (answers[0].status_code == 302)
        assert_ratings_match_reviews(app)
        with app.app_context():
            db.session.execute(sa.delete(Review))
            db.session.commit()
        set_item(app, store["mug"], stock=2)


# --- the catalogue ---------------------------------------------------------------------


def test_cards_show_the_average_and_the_rating_sort_puts_the_best_first(
    app, client, make_item, make_users
):
    users = make_users(3)
    good = make_item(name="Good")
    best = make_item(name="Best")
    make_item(name="Unrated")
    plenty = make_item(name="Plenty")
    write_review_row(app, users[0][0], good, 4)
    write_review_row(app, users[0][0], best, 5)
    for user_id, _ in users:
        write_review_row(app, user_id, plenty, 4)
    write_review_row(app, users[1][0], best, 1, hidden=True)
    html = get_html(client, "/items/?sort=rating")
    order = [name for name in ("Best", "Plenty", "Good", "Unrated") if name in html]
    positions = [html.index(f">{name}</a>") for name in order]
    assert positions == sorted(positions), "best average first, most reviews next"
    assert "5.0 out of 5 (1 review)" in html
    assert "4.0 out of 5 (3 reviews)" in html
    assert "Best rated" in get_html(client, "/items/")


def test_reviewers_appear_as_first_name_and_initial():
    assert reviewer_name("Olive Other") == "Olive O."
    assert reviewer_name("Ada Byron Lovelace") == "Ada L."
    assert reviewer_name("Cher") == "Cher"
    assert reviewer_name("Sam Shopper", deleted=True) == "A former customer"


def test_relationships_reach_reviews_both_ways(app, store):
    olive = client_for(app, "olive@example.com")
    post_review(olive, store["lamp"], rating="3")
    with app.app_context():
        user = db.session.get(User, store["olive"])
        item = db.session.get(Item, store["lamp"])
        assert [r.item_id for r in user.reviews] == [store["lamp"]]
        assert [r.user_id for r in item.reviews] == [store["olive"]]
        assert item.rating_average == 3.0


def test_the_demo_data_reviews_only_what_its_buyers_bought(app, runner):
    result = runner.invoke(
        args=["seed", "--items", "20", "--users", "10", "--purchases", "300"]
    )
    assert result.exit_code == 0, result.output
    assert count(app, Review) > 0
    assert_ratings_match_reviews(app)
    with app.app_context():
        unbought = db.session.execute(
            sa.text(
                "SELECT r.id FROM reviews r WHERE NOT EXISTS (SELECT 1 FROM user_items l"
                " WHERE l.user_id = r.user_id AND l.item_id = r.item_id AND l.counted)"
            )
        ).all()
    assert unbought == []
