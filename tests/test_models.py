"""The models: users buy items through user_items, and the database keeps the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from app.auth import load_user
from app.extensions import db
from app.models import Item, User, UserItem, utcnow
from tests.helpers import count


def buy(user_id: int, item_id: int, quantity: int = 1) -> int:
    """Record a purchase line at the item's current price; returns the line id."""
    user, item = db.session.get(User, user_id), db.session.get(Item, item_id)
    line = UserItem(quantity=quantity, unit_price_cents=item.price_cents)
    user.user_items.append(line)
    line.item = item
    db.session.commit()
    return line.id


def raw_insert(table: str, **values) -> None:
    """Insert straight into a table, past every Python-side check."""
    db.session.execute(sa.insert(db.metadata.tables[table]).values(**values))
    db.session.flush()


# --- has_many :through, both ways -------------------------------------------


def test_appending_user_items_lines_writes_join_rows(app_context, make_user, make_item):
    user_id = make_user()
    mug, lamp = make_item(name="Mug", price_cents=500), make_item(name="Lamp")

    user = db.session.get(User, user_id)
    user.user_items.append(
        UserItem(item=db.session.get(Item, mug), quantity=2, unit_price_cents=500)
    )
    user.user_items.append(
        UserItem(item=db.session.get(Item, lamp), quantity=1, unit_price_cents=1250)
    )
    db.session.commit()

    rows = db.session.execute(
        sa.select(
            UserItem.user_id,
            UserItem.item_id,
            UserItem.quantity,
            UserItem.unit_price_cents,
        ).order_by(UserItem.id)
    ).all()
    assert rows == [(user_id, mug, 2, 500), (user_id, lamp, 1, 1250)]


def test_user_items_lists_the_items_a_user_bought(app_context, make_user, make_item):
    user_id, other_id = make_user(), make_user()
    mug, lamp, kettle = (make_item(name=n) for n in ("Mug", "Lamp", "Kettle"))
    buy(user_id, mug)
    buy(user_id, lamp)
    buy(other_id, kettle)
    db.session.expire_all()

    user = db.session.get(User, user_id)
    assert [item.name for item in user.items] == ["Lamp", "Mug"]  # by name
    assert [line.item.name for line in user.user_items] == ["Mug", "Lamp"]
    assert all(line.user is user for line in user.user_items)


def test_item_users_lists_everyone_who_bought_it(app_context, make_user, make_item):
    ann, bob, cid = (
        make_user(name=n, email=f"{n.lower()}@example.com")
        for n in ("Ann", "Bob", "Cid")
    )
    mug, lamp = make_item(name="Mug"), make_item(name="Lamp")
    buy(bob, mug)
    buy(ann, mug)
    buy(cid, lamp)
    db.session.expire_all()

    item = db.session.get(Item, mug)
    assert [user.name for user in item.users] == ["Ann", "Bob"]  # by name
    assert {line.user_id for line in item.user_items} == {ann, bob}
    assert all(line.item is item for line in item.user_items)


def test_counts_agree_in_both_directions(app, app_context, make_user, make_item):
    users = [make_user() for _ in range(3)]
    items = [make_item() for _ in range(4)]
    for n, user_id in enumerate(users):
        for item_id in items[: n + 2]:  # user 0 buys 2 items, user 1: 3, user 2: 4
            buy(user_id, item_id)
    db.session.expire_all()

    assert [len(db.session.get(User, u).items) for u in users] == [2, 3, 4]
    assert [len(db.session.get(Item, i).users) for i in items] == [3, 3, 2, 1]
    assert count(app, UserItem) == 2 + 3 + 4


@pytest.mark.parametrize("loader", [None, so.selectinload, so.joinedload])
def test_an_item_bought_twice_is_listed_once(app_context, make_user, make_item, loader):
    """Two lines for the same item are two rows in user_items but one entry in
    user.items: SQLAlchemy de-duplicates the collection by identity, however it
    is loaded (lazy, selectin or joined)."""
    user_id, buyer2 = make_user(), make_user()
    mug, lamp = make_item(name="Mug"), make_item(name="Lamp")
    buy(user_id, mug)
    buy(user_id, mug, quantity=3)
    buy(user_id, lamp)
    buy(buyer2, mug)
    db.session.expire_all()

    query = sa.select(User).where(User.id == user_id)
    if loader:
        query = query.options(loader(User.items))
    user = db.session.scalars(query).unique().one()
    assert [item.name for item in user.items] == ["Lamp", "Mug"]
    assert len(user.user_items) == 3

    query = sa.select(Item).where(Item.id == mug)
    if loader:
        query = query.options(loader(Item.users))
    item = db.session.scalars(query).unique().one()
    assert sorted(u.id for u in item.users) == sorted([user_id, buyer2])


def test_a_price_change_never_alters_a_recorded_purchase(
    app_context, make_user, make_item
):
    user_id, item_id = make_user(), make_item(price_cents=1250)
    line_id = buy(user_id, item_id, quantity=2)

    item = db.session.get(Item, item_id)
    item.price_cents = 9999
    db.session.commit()
    db.session.expire_all()

    line = db.session.get(UserItem, line_id)
    assert line.unit_price_cents == 1250
    assert line.total_cents == 2500
    assert line.item.price_cents == 9999


# --- deleting what has purchases is refused by the database -----------------


@pytest.fixture
def purchase(app_context, make_user, make_item) -> tuple[int, int]:
    """A user who bought an item: (user_id, item_id)."""
    user_id, item_id = make_user(), make_item()
    buy(user_id, item_id)
    return user_id, item_id


def _assert_nothing_deleted(app, user_id: int, item_id: int) -> None:
    db.session.rollback()
    assert db.session.get(User, user_id) is not None
    assert db.session.get(Item, item_id) is not None
    assert count(app, UserItem) == 1


@pytest.mark.parametrize("model", [Item, User])
def test_deleting_a_row_with_purchases_is_refused_by_the_database(app, purchase, model):
    user_id, item_id = purchase
    row_id = item_id if model is Item else user_id
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.delete(model).where(model.id == row_id))
        db.session.commit()
    _assert_nothing_deleted(app, user_id, item_id)


@pytest.mark.parametrize("model", [Item, User])
def test_session_delete_of_a_row_with_purchases_is_refused(app, purchase, model):
    """The ORM must not null out or delete the lines first: the FK refuses."""
    user_id, item_id = purchase
    db.session.expire_all()
    row = db.session.get(model, item_id if model is Item else user_id)
    db.session.delete(row)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    _assert_nothing_deleted(app, user_id, item_id)


def test_a_row_without_purchases_can_be_deleted(app, app_context, make_user, make_item):
    user_id, item_id = make_user(), make_item()
    db.session.execute(sa.delete(Item).where(Item.id == item_id))
    db.session.execute(sa.delete(User).where(User.id == user_id))
    db.session.commit()
    assert count(app, Item) == count(app, User) == 0


# --- CHECK, NOT NULL and UNIQUE constraints (raw inserts) --------------------


@pytest.mark.parametrize(
    ("table", "values"),
    [
        ("items", {"name": "Mug", "price_cents": 100, "stock": -1}),
        ("items", {"name": "Mug", "price_cents": -1, "stock": 1}),
        ("items", {"name": "", "price_cents": 100, "stock": 1}),
        ("items", {"name": None, "price_cents": 100, "stock": 1}),
        ("users", {"name": "Ann", "email": "Ann@Example.com"}),
        ("users", {"name": "", "email": "ann@example.com"}),
        ("user_items", {"quantity": 0}),
        ("user_items", {"quantity": -2}),
        ("user_items", {"unit_price_cents": -1}),
        ("user_items", {"user_id": None}),
        ("user_items", {"item_id": None}),
        ("user_items", {"item_id": 999_999}),
    ],
    ids=[
        "negative-stock",
        "negative-price",
        "empty-item-name",
        "null-item-name",
        "upper-case-email",
        "empty-user-name",
        "zero-quantity",
        "negative-quantity",
        "negative-unit-price",
        "null-user",
        "null-item",
        "unknown-item",
    ],
)
def test_the_database_refuses_bad_rows(
    app, app_context, make_user, make_item, table, values
):
    user_id, item_id = make_user(), make_item()
    defaults = {
        "users": {"password_hash": "x", "session_token": "t" * 32},
        "items": {},
        "user_items": {
            "user_id": user_id,
            "item_id": item_id,
            "quantity": 1,
            "unit_price_cents": 100,
        },
    }[table]
    before = count(app, db.metadata.tables[table])
    with pytest.raises(sa.exc.IntegrityError):
        raw_insert(table, **{**defaults, **values})
    db.session.rollback()
    assert count(app, db.metadata.tables[table]) == before


def test_a_good_raw_row_is_accepted(app, app_context, make_user, make_item):
    """The refusals above are the constraints at work, not a broken insert."""
    user_id, item_id = make_user(), make_item()
    raw_insert("items", name="M", price_cents=0, stock=0)
    raw_insert("users", name="A", email="a@x.com", password_hash="x", session_token="t")
    raw_insert(
        "user_items", user_id=user_id, item_id=item_id, quantity=1, unit_price_cents=0
    )
    db.session.commit()
    assert (count(app, Item), count(app, User), count(app, UserItem)) == (2, 2, 1)


def test_email_is_unique_regardless_of_case(app, app_context, make_user):
    make_user(email="ann@example.com")
    assert db.session.scalar(
        sa.select(User.id).where(User.email == User.normalize_email(" ANN@example.COM"))
    )

    db.session.add(
        User(
            name="Ann again",
            email=User.normalize_email("Ann@Example.com"),
            password_hash="x",
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Stored as typed, the upper-case spelling is refused by the CHECK instead.
    with pytest.raises(sa.exc.IntegrityError):
        raw_insert(
            "users",
            name="Ann",
            email="ANN@EXAMPLE.COM",
            password_hash="x",
            session_token="t",
        )
    db.session.rollback()
    assert count(app, User) == 1


# --- timestamps --------------------------------------------------------------


@pytest.mark.parametrize("model", [User, Item, UserItem])
def test_timestamps_are_set_on_insert(app_context, make_user, make_item, model):
    before = utcnow()
    user_id, item_id = make_user(), make_item()
    buy(user_id, item_id)
    db.session.expire_all()

    row = db.session.scalars(sa.select(model)).first()
    assert row.created_at is not None
    assert row.updated_at is not None
    assert before - timedelta(seconds=1) <= row.created_at <= utcnow()
    assert timedelta(0) <= row.updated_at - row.created_at < timedelta(seconds=1)


def test_server_defaults_set_timestamps_on_a_raw_insert(app_context):
    db.session.execute(
        sa.text("INSERT INTO items (name, price_cents) VALUES ('Mug', 100)")
    )
    db.session.commit()
    item = db.session.scalars(sa.select(Item)).one()
    assert item.created_at is not None
    assert item.updated_at is not None
    assert item.stock == 0
    assert item.description == ""


def test_database_timestamps_are_utc_like_the_python_ones(make_app, monkeypatch):
    """Server defaults and now() must agree with utcnow() whatever the server's
    time zone (a PostgreSQL session otherwise uses the server's setting)."""
    monkeypatch.setenv("PGOPTIONS", "-c TimeZone=Pacific/Kiritimati")  # UTC+14
    far_from_utc = make_app()
    with far_from_utc.app_context():
        db.session.execute(
            sa.text("INSERT INTO items (name, price_cents) VALUES ('Mug', 100)")
        )
        db.session.execute(sa.update(Item).values(updated_at=sa.func.now()))
        db.session.commit()
        created_at, updated_at = db.session.execute(
            sa.select(Item.created_at, Item.updated_at)
        ).one()
        db.session.remove()
    assert abs(created_at - utcnow()) < timedelta(minutes=2)
    assert abs(updated_at - utcnow()) < timedelta(minutes=2)


def test_updated_at_is_bumped_on_update_and_created_at_kept(app_context, make_item):
    item_id = make_item(price_cents=100)
    an_hour_ago = utcnow() - timedelta(hours=1)
    db.session.execute(
        sa.update(Item)
        .where(Item.id == item_id)
        .values(created_at=an_hour_ago, updated_at=an_hour_ago)
    )
    db.session.commit()
    db.session.expire_all()

    item = db.session.get(Item, item_id)
    item.price_cents = 200
    db.session.commit()
    db.session.expire_all()

    item = db.session.get(Item, item_id)
    assert item.created_at == an_hour_ago
    assert item.updated_at > an_hour_ago + timedelta(minutes=59)


# --- passwords and sessions ----------------------------------------------------


def test_set_password_stores_a_slow_salted_hash(app_context):
    ann, bob = User(name="Ann"), User(name="Bob")
    ann.set_password("correct-horse-battery")
    bob.set_password("correct-horse-battery")

    assert ann.password_hash != "correct-horse-battery"
    assert "correct-horse-battery" not in ann.password_hash
    assert ann.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert ann.password_hash != bob.password_hash  # salted
    assert ann.check_password("correct-horse-battery")
    assert not ann.check_password("correct-horse-batter")


def test_get_id_carries_the_session_token_and_end_sessions_changes_it(
    app_context, make_user
):
    user = db.session.get(User, make_user())
    identity = user.get_id()
    assert identity == f"{user.id}:{user.session_token}"
    assert len(user.session_token) >= 32
    assert load_user(identity) == user

    user.end_sessions()
    db.session.commit()

    assert user.get_id() != identity
    assert user.get_id().startswith(f"{user.id}:")
    assert load_user(identity) is None  # old cookies no longer sign in
    assert load_user(user.get_id()) == user


def test_each_user_gets_their_own_session_token(app_context, make_user):
    make_user(), make_user()
    tokens = db.session.scalars(sa.select(User.session_token)).all()
    assert len(set(tokens)) == 2
