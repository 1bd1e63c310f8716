"""What the suite relies on from its fixtures and helpers: no app context is
kept pushed during a test, so each request runs in its own as in production,
and a snapshot of the database reads what requests wrote, at once.

Were either promise broken, a "writes nothing" check (`db_state(app) == before`)
could pass on a stale snapshot, and one client's sign-in could leak to another.
"""

from __future__ import annotations

from flask import g, has_app_context

from app.models import Item
from tests.helpers import (
    GOOD_ITEM,
    client_for,
    count,
    db_state,
    is_signed_in,
    item_rows,
    post_form,
    stock_of,
)


def test_no_app_context_is_pushed_during_a_test(app, client, make_item):
    assert not has_app_context()
    make_item()
    assert client.get("/items/").status_code == 200
    assert count(app, Item) == 1
    assert not has_app_context()


def test_each_request_runs_in_an_app_context_of_its_own(app):
    @app.get("/probe-context")
    def probe_context():
        seen = g.get("seen", False)  # left by an earlier request?
        g.seen = True
        return "seen" if seen else "new"

    client = app.test_client()
    answers = [
        client.get("/probe-context").get_data(as_text=True),
        app.test_client().get("/probe-context").get_data(as_text=True),
        client.get("/probe-context").get_data(as_text=True),
    ]
    assert answers == ["new", "new", "new"]


def test_signing_in_one_browser_signs_in_no_other(app, make_user):
    make_user(email="sam@example.com")
    sam = client_for(app, "sam@example.com")
    assert is_signed_in(sam)
    assert not is_signed_in(app.test_client())
    assert is_signed_in(sam)


def test_snapshots_see_what_a_request_wrote_at_once(app, client, admin, make_item):
    lamp = make_item(name="Lamp", stock=3)
    before = db_state(app)
    assert stock_of(app, lamp) == 3  # a read before the write...
    edit = post_form(client, f"/items/{lamp}/edit", {**GOOD_ITEM, "stock": "9"})
    assert edit.status_code == 302
    assert stock_of(app, lamp) == 9  # ...does not hide it from the next one
    assert db_state(app) != before
    assert count(app, Item) == 1
    assert [row.stock for row in item_rows(app)] == [9]
