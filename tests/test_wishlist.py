"""The wishlist (CONTRACT "Reviews and wishlist") and its "back in stock"
emails: one per wisher per restock, whatever brought the stock back from 0
(the item form, a CSV import, a cancellation, a statement in psql), sent
through the outbox to a real SMTP server, each with a one-click way out.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.mail.kinds import BACK_IN_STOCK
from app.mail.restocks import notify_restocks
from app.models import Item, Restock, User, WishlistItem
from app.wishlist import unsubscribe_token
from tests.helpers import (
    GOOD_ITEM,
    TEST_PASSWORD,
    assert_ratings_match_reviews,
    cancel_order,
    client_for,
    count,
    csrf_token_from,
    get_html,
    html_of,
    import_file,
    outbox_rows,
    place_order,
    post_form,
    send_all,
    set_item,
    store_state,
    the_link,
    wish,
)


def wishes(app) -> list[tuple[int, int]]:
    with app.app_context():
        return db.session.execute(
            sa.select(WishlistItem.user_id, WishlistItem.item_id).order_by(
                WishlistItem.id
            )
        ).all()


def wants_emails(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).back_in_stock_emails


def admin_sets_stock(app, item_id: int, stock: int, seen: int) -> None:
    admin = client_for(app, "admin@example.com")
    with app.app_context():
        item = db.session.get(Item, item_id)
        name, price = item.name, f"{item.price_cents / 100:.2f}"
    response = post_form(
        admin,
        f"/items/{item_id}/edit",
        {
            **GOOD_ITEM,
            "name": name,
            "price": price,
            "stock": str(stock),
            "stock_seen": str(seen),
        },
    )
    assert response.status_code == 302, html_of(response)


# --- the wishlist -------------------------------------------------------------------


def test_a_visitors_button_is_a_link_to_sign_in_and_their_catalogue_no_form(app, store):
    """A visitor's catalogue holds no form and starts no session (so one page
    serves every visitor: app/page_cache.py); the button signs them in and
    brings them back to the item, where it adds it."""
    visitor = app.test_client()
    response = visitor.get("/items/")
    catalogue = html_of(response)
    assert "Set-Cookie" not in response.headers
    assert 'method="post"' not in catalogue
    login = f"/users/login?next=/items/{store['lamp']}"
    assert f'href="{login}"' in catalogue and "♡ Add to wishlist" in catalogue
    page = get_html(visitor, login)
    assert "Sign in" in page
    response = post_form(
        visitor,
        login,
        {"email": "sam@example.com", "password": TEST_PASSWORD},
    )
    assert response.headers["Location"] == f"/items/{store['lamp']}"
    assert "♡ Add to wishlist" in get_html(visitor, f"/items/{store['lamp']}")
    assert wishes(app) == []  # nothing was added on the way


def test_the_button_adds_and_removes_and_the_menu_and_page_follow(app, store):
    sam = client_for(app, "sam@example.com")
    assert "♡ Add to wishlist" in get_html(sam, f"/items/{store['lamp']}")
    response = wish(sam, store["lamp"])
    assert response.status_code == 302
    assert wishes(app) == [(store["sam"], store["lamp"])]
    page = get_html(sam, f"/items/{store['lamp']}")
    assert "♥ On your wishlist" in page
    assert 'aria-label="Wishlist, 1 item"' in page
    listing = get_html(sam, "/users/wishlist")
    assert "Lamp" in listing and "$19.99" in listing and "4 in stock" in listing
    # The catalogue's cards carry the button too, coming back to the same page.
    catalogue = get_html(sam, "/items/?sort=-price")
    assert "♥ On your wishlist" in catalogue and "♡ Add to wishlist" in catalogue
    back = wish(sam, store["mug"], next="/items/?sort=-price")
    assert back.headers["Location"] == "/items/?sort=-price"
    assert wishes(app) == [(store["sam"], store["lamp"]), (store["sam"], store["mug"])]
    # Again: off the list.
    wish(sam, store["lamp"])
    assert wishes(app) == [(store["sam"], store["mug"])]
    assert 'aria-label="Wishlist, 1 item"' in get_html(sam, "/users/wishlist")
    assert_ratings_match_reviews(app)  # and the wishlist counts


def test_the_relationships_are_the_second_has_many_through(app, store):
    sam = client_for(app, "sam@example.com")
    wish(sam, store["lamp"])
    wish(sam, store["mug"])
    with app.app_context():
        user = db.session.get(User, store["sam"])
        lamp = db.session.get(Item, store["lamp"])
        assert [i.name for i in user.wished_items] == ["Lamp", "Mug"]
        assert [w.item_id for w in user.wishlist_items] == [store["lamp"], store["mug"]]
        assert [w.user_id for w in lamp.wishlist_items] == [store["sam"]]
        assert [u.name for u in lamp.wishers] == ["Sam Shopper"]
        assert user.wishlist_count == 2
        # The purchases' has_many :through stays as it was.
        assert user.items == []


def test_visitors_are_sent_to_sign_in_and_nothing_is_written(app, store):
    anonymous = app.test_client()
    before = store_state(app)
    response = wish(anonymous, store["lamp"])
    assert response.status_code == 302
    # Back to the item page once signed in (the button's URL takes only POSTs).
    assert response.headers["Location"] == f"/users/login?next=/items/{store['lamp']}"
    assert store_state(app) == before


def test_a_wish_for_an_archived_or_unknown_item_is_404_and_writes_nothing(app, store):
    sam = client_for(app, "sam@example.com")
    token = csrf_token_from(get_html(sam, "/items/"))
    before = store_state(app)
    for item_id in (store["retired"], 999_999):
        response = sam.post(f"/items/{item_id}/wishlist", data={"csrf_token": token})
        assert response.status_code == 404
    assert store_state(app) == before
    # A wish made before the item was archived stays, listed as no longer sold.
    wish(sam, store["mug"])
    set_item(app, store["mug"], archived_at=sa.func.now())
    before = store_state(app)
    response = sam.post(f"/items/{store['mug']}/wishlist", data={"csrf_token": token})
    assert response.status_code == 404
    assert store_state(app) == before
    assert "(no longer sold)" in get_html(sam, "/users/wishlist")


def test_the_button_never_sends_the_shopper_off_the_store(app, store):
    sam = client_for(app, "sam@example.com")
    for target in ("//evil.example/", "https://evil.example/", "/items/\\evil", "/x"):
        response = wish(sam, store["lamp"], next=target)
        assert response.headers["Location"] == f"/items/{store['lamp']}"


# --- back in stock ------------------------------------------------------------------


def test_one_email_per_restock_through_a_real_smtp_server(app, mailer, smtp, store):
    """The mug sells out; Sam and Olive wish for it; the admin's edit brings it
    back: each gets one email naming it, with a one-click unsubscribe. A worker
    run again sends nothing more; stock rising further is no restock; selling
    out and coming back again is a second email."""
    set_item(app, store["mug"], stock=0)
    sam = client_for(app, "sam@example.com")
    olive = client_for(app, "olive@example.com")
    wish(sam, store["mug"])
    wish(olive, store["mug"])
    admin_sets_stock(app, store["mug"], 3, seen=0)
    send_all(mailer)
    received = smtp.messages()
    assert sorted(m.to for m in received) == ["olive@example.com", "sam@example.com"]
    for message in received:
        assert message.subject == "Mug is back in stock"
        assert "Mug" in message.text and "$4.50" in message.text
        assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        header = str(message.message["List-Unsubscribe"]).strip()
        assert header.startswith("<http://store.test/users/unsubscribe/")
        assert header.endswith("/one-click>")
        assert the_link(message, "/users/unsubscribe/")
    rows = outbox_rows(app, BACK_IN_STOCK)
    with app.app_context():
        restock_id = db.session.scalar(sa.select(Restock.id))
    assert sorted(r.dedupe_key for r in rows) == sorted(
        f"back_in_stock:{restock_id}:{user}" for user in (store["sam"], store["olive"])
    )
    # A retried worker (or a second one) queues and sends nothing more.
    with mailer.app_context():
        assert notify_restocks() == 0
    send_all(mailer)
    assert len(smtp.messages()) == 2
    # 3 -> 5 is not a restock.
    admin_sets_stock(app, store["mug"], 5, seen=3)
    send_all(mailer)
    assert len(smtp.messages()) == 2
    # Sold out and back again: a second restock, a second email each.
    set_item(app, store["mug"], stock=0)
    admin_sets_stock(app, store["mug"], 1, seen=0)
    send_all(mailer)
    assert len(smtp.to("sam@example.com")) == 2
    assert len(smtp.to("olive@example.com")) == 2
    assert count(app, Restock) == 2


def test_every_path_back_to_stock_emails_the_wishers(app, mailer, smtp, store):
    """A CSV import, a cancellation's restock, and a plain UPDATE (a fix in
    psql): the trigger records each, so the emails follow every one."""
    sam = client_for(app, "sam@example.com")
    olive = client_for(app, "olive@example.com")
    admin = client_for(app, "admin@example.com")
    wish(sam, store["mug"])

    # A cancellation: Olive buys the last two mugs, then cancels.
    number = place_order(olive, {store["mug"]: 2})
    with app.app_context():
        assert db.session.get(Item, store["mug"]).stock == 0
    assert cancel_order(olive, number).status_code == 302
    send_all(mailer)
    assert len(smtp.to("sam@example.com")) == 1

    # A CSV import that restocks it.
    set_item(app, store["mug"], stock=0)
    import_file(admin, f"id,name,description,price,stock\n{store['mug']},Mug,,4.50,6\n")
    send_all(mailer)
    assert len(smtp.to("sam@example.com")) == 2

    # A statement from outside the app.
    set_item(app, store["mug"], stock=0)
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE items SET stock = 9 WHERE id = :id"), {"id": store["mug"]}
        )
        db.session.commit()
    send_all(mailer)
    assert len(smtp.to("sam@example.com")) == 3
    assert all(m.subject == "Mug is back in stock" for m in smtp.to("sam@example.com"))
    # Olive wished for nothing: her order's emails only.
    assert not any("back in stock" in m.subject for m in smtp.to("olive@example.com"))


def test_a_restock_nobody_wished_for_records_nothing(app, store):
    set_item(app, store["mug"], stock=0)
    set_item(app, store["mug"], stock=5)
    assert count(app, Restock) == 0


def test_the_unsubscribe_link_takes_one_button_and_stops_the_emails(
    app, mailer, smtp, store
):
    set_item(app, store["mug"], stock=0)
    sam = client_for(app, "sam@example.com")
    wish(sam, store["mug"])
    set_item(app, store["mug"], stock=1)
    send_all(mailer)
    [message] = smtp.messages()
    link = the_link(message, "/users/unsubscribe/")
    reader = app.test_client()  # the link works without signing in
    page = reader.get(link)
    assert page.status_code == 200 and "Stop these emails" in html_of(page)
    assert wants_emails(app, store["sam"])  # a GET changes nothing
    response = reader.post(link, data={"csrf_token": csrf_token_from(html_of(page))})
    assert response.status_code == 302
    assert not wants_emails(app, store["sam"])
    # The next restock emails nobody; the wishlist stays.
    set_item(app, store["mug"], stock=0)
    set_item(app, store["mug"], stock=2)
    send_all(mailer)
    assert len(smtp.messages()) == 1
    assert wishes(app) == [(store["sam"], store["mug"])]
    # The wishlist page turns them on again.
    form = post_form(
        sam, "/users/wishlist/emails", {"wanted": "y"}, page="/users/wishlist"
    )
    assert form.status_code == 302
    assert wants_emails(app, store["sam"])


def test_the_one_click_header_unsubscribes_without_a_page(app, store):
    """RFC 8058: the mail program posts `List-Unsubscribe=One-Click` with no
    CSRF token; the signed token in the URL is the authority."""
    with app.app_context():
        token = unsubscribe_token(store["sam"])
    client = app.test_client()
    before = store_state(app)
    for bad in ("x" + token, token[:-2], "not-a-real-token", "A" * 500):
        response = client.post(
            f"/users/unsubscribe/{bad}/one-click",
            data={"List-Unsubscribe": "One-Click"},
        )
        assert response.status_code == 400
    assert store_state(app) == before
    response = client.post(
        f"/users/unsubscribe/{token}/one-click", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert not wants_emails(app, store["sam"])
    assert wants_emails(app, store["olive"])


def test_a_bad_unsubscribe_link_is_a_clear_page_and_changes_nothing(app, store):
    before = store_state(app)
    response = app.test_client().get("/users/unsubscribe/forged.token")
    assert response.status_code == 400
    assert "This link does not work" in html_of(response)
    assert store_state(app) == before


def test_the_outbox_command_turns_restocks_into_emails(app, mailer, smtp, store):
    """`flask outbox run --once`, as an operator runs it: the worker expands
    the restock and sends its email in the same pass."""
    set_item(app, store["mug"], stock=0)
    wish(client_for(app, "sam@example.com"), store["mug"])
    set_item(app, store["mug"], stock=4)
    result = mailer.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    [message] = smtp.messages()
    assert message.to == "sam@example.com" and message.subject == "Mug is back in stock"
