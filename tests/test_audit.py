"""The audit trail: every admin change to an item or a user is recorded, in the
same transaction, with before/after of the changed fields; admins read it at
/audit/; nothing in the app can edit or delete it."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.audit import events as audit
from app.extensions import db
from app.models import AuditEvent, Item, ShippingMethod, ShopSettings, User
from config import ROOT
from tests.helpers import (
    GOOD_ITEM,
    audit_events,
    client_for,
    count,
    count_queries,
    csrf_token_from,
    post_form,
    queries,
    row_of,
    set_item,
    sign_in,
    write_review_row,
)

EVENT_ROW_RE = re.compile(r"<tr>\s*<td><time", re.S)


def changes(event: AuditEvent) -> dict:
    return json.loads(event.changes)


def only_event(app) -> AuditEvent:
    (event,) = audit_events(app)
    return event


def create_item(client) -> int:
    response = post_form(client, "/items/new", GOOD_ITEM)
    assert response.status_code == 302
    return int(response.headers["Location"].rsplit("/", 1)[1])


def edit_item(client, item_id: int, **values):
    item = row_of(client.application, Item, item_id)
    data = {
        "name": item.name,
        "description": item.description,
        "price": f"{item.price_cents // 100}.{item.price_cents % 100:02d}",
        "stock": str(item.stock),
        "stock_seen": str(item.stock),
        **values,
    }
    return post_form(client, f"/items/{item_id}/edit", data)


def shop_rows(app) -> tuple[list, list]:
    """The shop's settings row and shipping methods, every column."""
    with app.app_context():
        return tuple(
            db.session.execute(sa.select(model.__table__).order_by(model.id)).all()
            for model in (ShopSettings, ShippingMethod)
        )


def event_rows(html: str) -> int:
    return len(EVENT_ROW_RE.findall(html))


# --- items -------------------------------------------------------------------------------


def test_adding_an_item_records_every_field(app, client, admin):
    item_id = create_item(client)
    event = only_event(app)
    assert (event.action, event.subject_type, event.subject_id, event.actor_id) == (
        "item.create",
        "item",
        item_id,
        admin,
    )
    assert changes(event) == {
        "before": {},
        "after": {
            "name": "Walnut Tray",
            "description": "Oiled.",
            "price_cents": 1250,
            "stock": 7,
        },
    }


def test_editing_records_only_the_changed_fields(app, client, admin, make_item):
    item_id = make_item(name="Lamp", price_cents=1000, stock=4, description="Warm")
    assert edit_item(client, item_id, price="10.50", stock="6").status_code == 302
    event = only_event(app)
    assert (event.action, event.subject_id, event.actor_id) == (
        "item.update",
        item_id,
        admin,
    )
    assert changes(event) == {
        "before": {"price_cents": 1000, "stock": 4},
        "after": {"price_cents": 1050, "stock": 6},
    }


def test_saving_an_unchanged_item_records_nothing(app, client, admin, make_item):
    item_id = make_item(name="Lamp")
    assert edit_item(client, item_id).status_code == 302
    assert audit_events(app) == []


def test_a_refused_edit_records_nothing(app, client, admin, make_item):
    item_id = make_item(name="Lamp", stock=5)
    html = client.get(f"/items/{item_id}/edit").get_data(as_text=True)
    set_item(app, item_id, stock=4)  # a sale while the admin edits
    response = client.post(
        f"/items/{item_id}/edit",
        data={
            "csrf_token": csrf_token_from(html),
            "name": "Lamp",
            "description": "",
            "price": "12.50",
            "stock": "9",
            "stock_seen": "5",
        },
    )
    assert response.status_code == 422
    assert audit_events(app) == []
    assert edit_item(client, item_id, price="abc").status_code == 422
    assert audit_events(app) == []


def test_archive_and_restore_are_recorded_once_each(app, client, admin, make_item):
    item_id = make_item(name="Lamp")
    page = f"/items/{item_id}"
    post_form(client, f"/items/{item_id}/archive", page=page)
    post_form(client, f"/items/{item_id}/archive", page=page)  # already archived
    post_form(client, f"/items/{item_id}/restore", page=page)
    post_form(client, f"/items/{item_id}/restore", page=page)  # not archived
    archived, restored = audit_events(app)
    assert (archived.action, restored.action) == ("item.archive", "item.restore")
    stamp = changes(archived)["after"]["archived_at"]
    assert datetime.fromisoformat(stamp) > datetime(2020, 1, 1)
    assert changes(archived) == {
        "before": {"archived_at": None},
        "after": {"archived_at": stamp},
    }
    assert changes(restored) == {
        "before": {"archived_at": stamp},
        "after": {"archived_at": None},
    }


def test_an_import_records_one_event_per_added_or_changed_item(
    app, client, admin, make_item
):
    from tests.helpers import import_file

    lamp = make_item(name="Lamp", price_cents=100, stock=1, description="")
    import_file(
        client,
        f"id,name,description,price,stock\n{lamp},Lamp,,1.00,2\n,Mug,,3.00,1\n",
    )
    updated, added = sorted(audit_events(app), key=lambda e: e.subject_id)
    assert (updated.action, updated.subject_id, updated.actor_id) == (
        "item.import",
        lamp,
        admin,
    )
    assert changes(updated) == {"before": {"stock": 1}, "after": {"stock": 2}}
    assert changes(added)["after"]["name"] == "Mug"


# --- users ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field", "start", "end"),
    [
        ("grant-admin", "is_admin", False, True),
        ("revoke-admin", "is_admin", True, False),
        ("disable", "is_enabled", True, False),
        ("enable", "is_enabled", False, True),
    ],
)
def test_user_access_changes_are_recorded(
    app, client, admin, make_user, action, field, start, end
):
    olive = make_user("Olive", "olive@example.com")
    with app.app_context():
        db.session.execute(
            sa.update(User).where(User.id == olive).values({field: start})
        )
        db.session.commit()
    response = post_form(client, f"/users/{olive}/{action}", page="/users/")
    assert response.status_code == 302
    event = only_event(app)
    assert (event.action, event.subject_type, event.subject_id, event.actor_id) == (
        "user." + action.replace("-", "_"),
        "user",
        olive,
        admin,
    )
    assert changes(event) == {"before": {field: start}, "after": {field: end}}
    # Doing it again changes nothing, so records nothing.
    post_form(client, f"/users/{olive}/{action}", page="/users/")
    assert len(audit_events(app)) == 1


def test_refusing_to_demote_yourself_records_nothing(app, client, admin):
    post_form(client, f"/users/{admin}/revoke-admin", page="/users/")
    post_form(client, f"/users/{admin}/disable", page="/users/")
    assert audit_events(app) == []


def test_create_admin_from_the_command_line_is_recorded_without_an_actor(
    app, runner, make_user
):
    shopper = make_user(email="ada@example.com")
    with app.app_context():
        db.session.execute(sa.update(User).values(is_enabled=False))
        db.session.commit()
    result = runner.invoke(
        args=[
            "create-admin",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--password",
            "plum-kite-seventeen",
        ]
    )
    assert result.exit_code == 0, result.output
    granted, enabled = audit_events(app)
    assert (granted.action, granted.subject_id, granted.actor_id) == (
        "user.grant_admin",
        shopper,
        None,
    )
    assert changes(granted) == {
        "before": {"is_admin": False},
        "after": {"is_admin": True},
    }
    assert enabled.action == "user.enable"


# --- the same transaction ----------------------------------------------------------------------


def test_a_change_whose_event_cannot_be_written_is_not_made(
    app, client, admin, make_item, monkeypatch, make_user
):
    """The event is written with the change: if the database refuses the event
    (here: a subject type its CHECK does not allow), the change is rolled back."""
    item_id = make_item(name="Lamp", price_cents=1000)
    monkeypatch.setattr(audit, "_check", lambda action: "bogus")
    assert edit_item(client, item_id, price="99.00").status_code == 500
    assert row_of(app, Item, item_id).price_cents == 1000
    assert post_form(client, "/items/new", GOOD_ITEM).status_code == 500
    assert count(app, Item) == 1
    olive = make_user("Olive", "olive@example.com")
    assert (
        post_form(client, f"/users/{olive}/grant-admin", page="/users/").status_code
        == 500
    )
    assert row_of(app, User, olive).is_admin is False
    settings = "/purchases/settings"
    before = shop_rows(app)
    for form in (
        {"form": "shop", "shop-tax_rate": "8.25", "shop-bank_transfer_details": ""},
        {"form": "new", "new-code": "drone", "new-name": "Drone", "new-price": "9.00"},
    ):
        assert post_form(client, settings, form).status_code == 500
    assert shop_rows(app) == before
    assert audit_events(app) == []


# --- the list ----------------------------------------------------------------------------------


def add_events(
    app, n: int, actor_id: int | None, subject_id: int, kind: str = "item"
) -> None:
    """n events, one minute apart (the last one newest)."""
    start = datetime(2024, 5, 1, 12, 0)
    action = "item.update" if kind == "item" else "user.disable"
    with app.app_context():
        db.session.add_all(
            AuditEvent(
                actor_id=actor_id,
                action=action,
                subject_type=kind,
                subject_id=subject_id,
                changes=audit.dumps(
                    {"before": {"stock": n}, "after": {"stock": n + 1}}
                ),
                created_at=start + timedelta(minutes=n),
            )
            for n in range(n)
        )
        db.session.commit()


def test_the_list_shows_who_did_what_newest_first(client, admin, make_item):
    item_id = create_item(client)
    edit_item(client, item_id, price="13.00", name="Walnut Tray XL")
    html = client.get("/audit/").get_data(as_text=True)
    assert event_rows(html) == 2
    table = html[html.index("<tbody>") :]
    assert table.index("Item edited") < table.index("Item added")
    assert "<strong>price</strong>: $12.50 → $13.00</li>" in html
    assert "<strong>name</strong>: Walnut Tray → Walnut Tray XL</li>" in html
    assert f'href="/items/{item_id}">Walnut Tray XL</a>' in html
    assert f'href="/users/{admin}">Alex Admin</a>' in html


def test_command_line_changes_show_as_such(app, client, admin, make_item):
    add_events(app, 1, None, make_item())
    assert "command line" in client.get("/audit/").get_data(as_text=True)


def test_the_list_pages_by_fifty(app, client, admin, make_item):
    add_events(app, 60, admin, make_item())
    first = client.get("/audit/").get_data(as_text=True)
    second = client.get("/audit/?page=2").get_data(as_text=True)
    assert event_rows(first) == 50 and event_rows(second) == 10
    assert "60 events" in first and "page 1 of 2" in first
    assert 'href="/audit/?page=2"' in first
    assert "<strong>stock</strong>: 59 → 60</li>" in first
    assert "<strong>stock</strong>: 0 → 1</li>" in second
    assert "<strong>stock</strong>: 0 → 1</li>" not in first
    assert client.get("/audit/?page=3").status_code == 404


def test_the_list_filters_by_action_and_subject(app, client, admin, make_item):
    lamp, mug = make_item(name="Lamp"), make_item(name="Mug")
    add_events(app, 3, admin, lamp)
    add_events(app, 2, admin, mug)
    add_events(app, 4, admin, admin, kind="user")
    assert event_rows(client.get("/audit/").get_data(as_text=True)) == 9
    by_action = client.get("/audit/?action=user.disable").get_data(as_text=True)
    assert event_rows(by_action) == 4
    by_item = client.get(f"/audit/?subject_type=item&subject_id={mug}")
    html = by_item.get_data(as_text=True)
    assert event_rows(html) == 2
    assert f'Changes to <a href="/items/{mug}">Mug</a>' in html
    both = client.get(f"/audit/?action=item.update&subject_type=item&subject_id={lamp}")
    assert event_rows(both.get_data(as_text=True)) == 3
    # Pagination links keep the filters.
    add_events(app, 55, admin, lamp)
    page = client.get(f"/audit/?subject_type=item&subject_id={lamp}").get_data(
        as_text=True
    )
    assert f"/audit/?subject_type=item&amp;subject_id={lamp}&amp;page=2" in page


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("action=bogus", 200),
        ("action=%00", 200),
        ("subject_type=orders", 200),
        ("subject_id=abc", 400),
        ("subject_id=1%00", 400),
        ("subject_id=-1", 400),
        ("subject_id=99999999999", 400),
        ("subject_id=2147483648", 404),
        ("subject_id=0", 404),
        ("page=0", 404),
        ("page=abc", 200),
        ("page=999999", 404),
    ],
)
def test_odd_filters_never_500(client, admin, query, status):
    assert client.get(f"/audit/?{query}").status_code == status


def test_an_item_page_links_admins_to_its_history(app, client, admin, make_item):
    item_id = make_item(name="Lamp")
    link = f'href="/audit/?subject_type=item&amp;subject_id={item_id}"'
    assert link in client.get(f"/items/{item_id}").get_data(as_text=True)
    assert link not in app.test_client().get(f"/items/{item_id}").get_data(as_text=True)


def test_hostile_text_in_the_trail_is_escaped(client, admin, make_item):
    item_id = make_item(name="Lamp")
    edit_item(
        client, item_id, name="<script>alert(1)</script>", description="{{7*7}}-seven"
    )
    html = client.get("/audit/").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Rendered, the expression would read "49-seven"; a bare "49" can be a clock.
    assert "{{7*7}}-seven" in html and "49-seven" not in html


# --- query budget ------------------------------------------------------------------------------


AUDIT_LIST = 4  # the signed-in admin, the count, the page with actors, subject names


def test_the_list_runs_a_fixed_number_of_statements(
    app, client, admin, make_user, make_item
):
    users = [
        make_user(f"Admin {n}", f"a{n}@example.com", is_admin=True) for n in range(3)
    ]
    add_events(app, 1, admin, make_item())
    assert queries(client, "/audit/") == AUDIT_LIST
    for n in range(29):  # 30 events by several actors about many subjects
        add_events(
            app,
            1,
            users[n % 3],
            make_item() if n % 2 else users[n % 3],
            "item" if n % 2 else "user",
        )
    assert event_rows(client.get("/audit/").get_data(as_text=True)) == 30
    assert queries(client, "/audit/") == AUDIT_LIST
    assert (
        queries(client, f"/audit/?subject_type=user&subject_id={users[0]}")
        == AUDIT_LIST
    )


# --- who may read it, and nobody may change it -----------------------------------------------


def test_visitors_sign_in_and_shoppers_are_refused(app, make_user):
    anonymous = app.test_client().get("/audit/")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/users/login?next=")
    make_user(email="sam@example.com")
    shopper = app.test_client()
    sign_in(shopper, "sam@example.com")
    response = shopper.get("/audit/")
    assert response.status_code == 403
    assert "You do not have permission" in response.get_data(as_text=True)


def test_the_audit_blueprint_only_reads(app):
    rules = [
        rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("audit.")
    ]
    assert rules
    for rule in rules:
        assert rule.methods - {"HEAD", "OPTIONS"} == {"GET"}, rule


def all_event_rows(app) -> list[tuple]:
    """Every column of every audit event, oldest first."""
    with app.app_context():
        return db.session.execute(
            sa.select(AuditEvent.__table__).order_by(AuditEvent.id)
        ).all()


WRITES_TO_AUDIT = re.compile(
    r"\b(UPDATE|DELETE\s+FROM|TRUNCATE)\s+\"?audit_events\b", re.I
)


def test_no_route_updates_or_deletes_audit_events(
    app, make_user, make_item, make_purchase
):
    """Walk the URL map: every route that accepts a write method, called by an
    admin with a valid CSRF token and a payload naming audit fields, never sends
    UPDATE or DELETE to audit_events, and the events already there stay as they were."""
    admin_id = make_user("Root", "root@example.com", is_admin=True)
    olive = make_user("Olive", "olive@example.com")
    item_id = make_item(name="Lamp")
    make_purchase(olive, item_id)
    with app.app_context():
        order_id, number = db.session.execute(
            sa.text("SELECT id, number FROM orders")
        ).one()
    add_events(app, 3, admin_id, item_id)
    before = all_event_rows(app)
    values = {
        "item_id": item_id,
        "user_id": olive,
        "order_id": order_id,
        "number": number,
        "token": "not-a-real-token",
        "message_id": 1,
        # a review to hide (an audited change): appended like any other
        "review_id": write_review_row(app, olive, item_id, 4),
        "image_id": 1,
        "category_id": 1,
        "slug": "about",
    }
    payload = {
        "id": "1",
        "event_id": "1",
        "action": "item.create",
        "changes": "{}",
        "subject_id": "1",
        "actor_id": "",
        "name": "x",
        "price": "1",
        "stock": "1",
        "quantity": "1",
        # an order's move and refund, and a new shipping method: each of these
        # writes (the last one an audit event of its own), none may rewrite one
        "status": "shipped",
        "tracking_number": "1Z999",
        "note": "audit_events",
        "amount": "1.00",
        "form": "new",
        "new-code": "drone",
        "new-name": "Drone",
        "new-price": "9.00",
        # a content page's edit: an audit event of its own too
        "title": "About us",
        "body": "audit_events",
    }
    write_rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert write_rules
    with count_queries(app) as statements:
        for rule in write_rules:
            client = app.test_client()
            sign_in(client, "root@example.com")
            url = rule.build({name: values[name] for name in rule.arguments})[1]
            token = csrf_token_from(client.get("/items/new").get_data(as_text=True))
            for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
                response = client.open(
                    url, method=method, data={"csrf_token": token, **payload}
                )
                assert response.status_code < 500, (method, url)
    assert not [s for s in statements if WRITES_TO_AUDIT.search(s)]
    after = all_event_rows(app)
    assert after[: len(before)] == before
    # The routes did write (the settings page its own event): appended only.
    assert "shipping.create" in {event.action for event in after[len(before) :]}


def test_postgresql_refuses_to_change_or_delete_an_event(app, engine_name, make_item):
    if engine_name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's (migration 0004)")
    add_events(app, 1, None, make_item())
    for statement in (
        "UPDATE audit_events SET action = 'item.create'",
        "DELETE FROM audit_events",
    ):
        refused = pytest.raises(sa.exc.DBAPIError, match="append-only")
        with refused, app.app_context(), db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert count(app, AuditEvent) == 1


def test_actors_with_events_cannot_be_deleted(app, make_user, make_item):
    """actor_id is RESTRICT: the record of who did it outlives nothing."""
    actor = make_user(is_admin=True)
    add_events(app, 1, actor, make_item())
    with (
        pytest.raises(sa.exc.IntegrityError),
        app.app_context(),
        db.engine.begin() as conn,
    ):
        conn.execute(sa.delete(User).where(User.id == actor))
    assert count(app, User) == 1


# --- the actions there are ------------------------------------------------------------------

ACTIONS = {
    "item.create",
    "item.update",
    "item.archive",
    "item.restore",
    "item.import",
    "item.review_hide",
    "item.review_show",
    "item.image_add",
    "item.image_move",
    "item.image_delete",
    "user.grant_admin",
    "user.revoke_admin",
    "user.disable",
    "user.enable",
    "shipping.create",
    "shipping.update",
    "settings.update",
    "page.update",
}
RECORDED = re.compile(r"""\brecord(?:_many)?\(\s*["']([a-z_]+\.[a-z_]+)["']""")


def test_the_list_of_actions(app):
    """Every action the app records has a label, and names a subject type the
    database accepts; the shop's settings and shipping methods are among them."""
    assert set(audit.ACTIONS) == ACTIONS
    assert all(audit.ACTIONS[action] for action in ACTIONS)
    recorded = {
        action
        for path in (ROOT / "app").rglob("*.py")
        for action in RECORDED.findall(path.read_text(encoding="utf-8"))
    }
    assert {"settings.update", "shipping.create", "shipping.update"} <= recorded
    assert {"item.review_hide", "item.review_show"} <= recorded
    assert recorded <= ACTIONS
    assert {action.partition(".")[0] for action in ACTIONS} == set(audit.SUBJECT_TYPES)


def test_the_database_accepts_only_the_known_subject_types(app):
    for kind in audit.SUBJECT_TYPES:
        with app.app_context():
            db.session.add(
                AuditEvent(action=f"{kind}.x", subject_type=kind, subject_id=1)
            )
            db.session.commit()
    with (
        pytest.raises(sa.exc.IntegrityError),
        app.app_context(),
        db.engine.begin() as conn,
    ):
        conn.execute(
            sa.insert(AuditEvent).values(
                action="order.update", subject_type="order", subject_id=1, changes="{}"
            )
        )
    assert count(app, AuditEvent) == len(audit.SUBJECT_TYPES)


def test_pictures_and_a_category_change_are_in_the_trail(app, client, admin, make_item):
    """Adding, moving and deleting a picture, and an item's category changed
    by its form, each leave an event naming the item."""
    import io

    from tests.helpers import make_category_row, picture_bytes

    item_id = make_item(name="Lamp")
    home = make_category_row(app, "Home")
    for color in ((1, 2, 3), (200, 0, 0)):
        upload = {
            "image": (io.BytesIO(picture_bytes(color=color)), "a.jpg"),
            "alt": "x",
        }
        post_form(
            client, f"/items/{item_id}/images", upload, page=f"/items/{item_id}/edit"
        )
    with app.app_context():
        first, second = db.session.scalars(
            sa.text("SELECT id FROM item_images ORDER BY position")
        ).all()
    post_form(
        client,
        f"/items/{item_id}/images/{second}/move",
        {"direction": "up"},
        page=f"/items/{item_id}/edit",
    )
    post_form(
        client, f"/items/{item_id}/images/{first}/delete", page=f"/items/{item_id}/edit"
    )
    post_form(client, f"/items/{item_id}/edit", {**GOOD_ITEM, "category_id": str(home)})
    with app.app_context():
        events = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.subject_id, AuditEvent.changes)
            .where(AuditEvent.subject_type == "item")
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == [
        "item.image_add",
        "item.image_add",
        "item.image_move",
        "item.image_delete",
        "item.update",
    ]
    assert {e.subject_id for e in events} == {item_id}
    change = json.loads(events[-1].changes)
    assert (change["before"]["category_id"], change["after"]["category_id"]) == (
        None,
        home,
    )


@pytest.fixture
def app_role(app, engine_name, database_uri):
    """A login role of its own, given the store's rights by `flask
    grant-app-role` (run as the tables' owner); dropped afterwards. Yields
    the database URL that connects as it."""
    if engine_name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role = f"store_app_{uuid.uuid4().hex[:8]}"
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.commit()
    result = app.test_cli_runner().invoke(args=["grant-app-role", role])
    assert result.exit_code == 0, result.output
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON " in result.output
    try:
        yield sa.engine.make_url(database_uri).set(username=role, password=None)
    finally:
        with app.app_context(), db.engine.connect() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
            conn.commit()


def test_s48_the_app_role_can_add_to_the_trail_but_not_alter_its_guard(
    app, make_app, app_role, make_user, make_item
):
    """The store runs as the granted role: an admin's change writes its event;
    but the role cannot update, delete or truncate events, nor disable or
    drop the append-only trigger, nor alter the table."""
    store_as_role = make_app(
        SQLALCHEMY_DATABASE_URI=app_role.render_as_string(hide_password=False)
    )
    make_user("Ada", "ada@example.com", is_admin=True)
    admin = client_for(store_as_role, "ada@example.com")
    assert post_form(admin, "/items/new", GOOD_ITEM).status_code == 302
    assert count(app, AuditEvent) == 1
    engine = sa.create_engine(app_role)
    try:
        for statement in (
            "UPDATE audit_events SET action = 'item.create'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER USER",
            "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
            "ALTER TABLE audit_events ADD COLUMN hidden text",
        ):
            with pytest.raises(sa.exc.ProgrammingError), engine.begin() as conn:
                conn.exec_driver_sql(statement)
        with engine.begin() as conn:  # what the store does do
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar()
    finally:
        engine.dispose()
    assert count(app, AuditEvent) == 1


def test_grant_app_role_refuses_sqlite_and_unknown_roles(app, engine_name):
    result = app.test_cli_runner().invoke(args=["grant-app-role", "no_such_role"])
    assert result.exit_code != 0
    expected = "SQLite has none" if engine_name == "sqlite" else "does not exist"
    assert expected in result.output
