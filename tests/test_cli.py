"""Operator commands: `flask create-admin` and `flask seed`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Item, Order, User, UserItem
from tests.helpers import (
    count,
    order_row,
    post_form,
    row_of,
    the_only,
)

PASSWORD = "plum-kite-seventeen"


def create_admin(runner, *args: str, input: str | None = None):
    return runner.invoke(args=["create-admin", *args], input=input)


# --- flask create-admin --------------------------------------------------------


def test_create_admin_creates_an_admin_with_a_hashed_password(app, runner):
    result = create_admin(
        runner,
        "--name",
        "Ada Admin",
        "--email",
        "  Ada@Example.COM ",
        "--password",
        PASSWORD,
    )
    assert result.exit_code == 0, result.output
    assert "Created admin" in result.output
    assert PASSWORD not in result.output

    user = the_only(app, User)
    assert (user.name, user.email, user.is_admin) == (
        "Ada Admin",
        "ada@example.com",
        True,
    )
    assert user.password_hash != PASSWORD
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize(
    "password",
    ["short", "seven77", "password123", "PASSWORD123", "x" * 129],
    ids=["short", "seven-chars", "common", "common-upper-case", "too-long"],
)
def test_create_admin_refuses_a_weak_password_and_writes_nothing(app, runner, password):
    result = create_admin(
        runner, "--name", "Ada", "--email", "ada@example.com", "--password", password
    )
    assert result.exit_code != 0
    assert "--password" in result.output
    assert count(app, User) == 0


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "ada@",
        "@example.com",
        "ada@@example.com",
        "ada smith@example.com",
        "ada@example",
        "",
        "a" * 250 + "@example.com",
    ],
)
def test_create_admin_refuses_a_bad_email_and_writes_nothing(app, runner, email):
    result = create_admin(
        runner, "--name", "Ada", "--email", email, "--password", PASSWORD
    )
    assert result.exit_code != 0
    assert "--email" in result.output
    assert count(app, User) == 0


@pytest.mark.parametrize("name", ["", "   ", "n" * 101])
def test_create_admin_refuses_a_bad_name_and_writes_nothing(app, runner, name):
    result = create_admin(
        runner, "--name", name, "--email", "ada@example.com", "--password", PASSWORD
    )
    assert result.exit_code != 0
    assert "--name" in result.output
    assert count(app, User) == 0


def test_create_admin_prompts_for_the_password_without_echo(app, runner):
    result = create_admin(
        runner,
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "Repeat" in result.output  # asked twice
    assert PASSWORD not in result.output  # never echoed
    user = the_only(app, User)
    assert user.is_admin
    assert user.check_password(PASSWORD)


def test_create_admin_with_mismatched_prompts_writes_nothing(app, runner):
    result = create_admin(
        runner,
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        input=f"{PASSWORD}\n{PASSWORD}-typo\n",
    )
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert count(app, User) == 0


def test_create_admin_on_an_existing_email_makes_that_user_admin(
    app, runner, make_user
):
    user_id = make_user(name="Sam Shopper", email="sam@example.com")
    old_identity = row_of(app, User, user_id).get_id()

    result = create_admin(
        runner, "--name", "Sam", "--email", "SAM@example.com", "--password", PASSWORD
    )
    assert result.exit_code == 0, result.output
    assert "existing user" in result.output

    user = row_of(app, User, user_id)
    assert count(app, User) == 1
    assert user.is_admin
    assert user.check_password(PASSWORD)
    assert user.get_id() != old_identity  # old sessions end with the old password


def test_there_is_no_admin_until_create_admin_runs(app, runner):
    assert count(app, User) == 0
    runner.invoke(args=["seed", "--items", "3", "--users", "3", "--purchases", "3"])
    assert count(app, User) == 3
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(User.is_admin)) == 0


# --- flask seed ------------------------------------------------------------------


def seed(runner, *args: str):
    result = runner.invoke(args=["seed", *args])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return result


@pytest.fixture
def seeded(app, runner) -> dict[int, int]:
    """The store after `flask seed --items 50 --users 10 --purchases 200`;
    returns every item's price at seed time."""
    seed(runner, "--items", "50", "--users", "10", "--purchases", "200")
    with app.app_context():
        return dict(db.session.execute(sa.select(Item.id, Item.price_cents)).all())


def test_seed_writes_the_counts_asked_for(app, seeded):
    assert count(app, Item) == 50
    assert count(app, User) == 10
    assert count(app, UserItem) == 200
    assert count(app, Order) >= 1


def test_seeded_lines_are_priced_at_the_items_price(seeded, app_context):
    lines = db.session.execute(
        sa.select(UserItem.item_id, UserItem.unit_price_cents)
    ).all()
    assert len(lines) == 200
    assert all(price == seeded[item_id] for item_id, price in lines)


def test_seeded_orders_total_their_lines(seeded, app_context):
    totals = dict(
        db.session.execute(
            sa.select(
                UserItem.order_id,
                sa.func.sum(UserItem.quantity * UserItem.unit_price_cents),
            ).group_by(UserItem.order_id)
        ).all()
    )
    orders = dict(db.session.execute(sa.select(Order.id, Order.total_cents)).all())
    assert None not in totals
    assert totals == orders
    mismatched = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(UserItem)
        .join(Order)
        .where(UserItem.user_id != Order.user_id)
    )
    assert mismatched == 0


def test_seeded_purchases_are_spread_over_users_and_items(seeded, app_context):
    buyers = db.session.scalar(sa.select(sa.func.count(UserItem.user_id.distinct())))
    bought = db.session.scalar(sa.select(sa.func.count(UserItem.item_id.distinct())))
    assert buyers >= 5
    assert bought >= 15


def test_seeded_rows_keep_the_models_rules(seeded, app_context):
    users = db.session.scalars(sa.select(User)).all()
    assert all(u.email == u.email.lower() and "@" in u.email for u in users)
    assert len({u.email for u in users}) == 10
    assert not any(u.is_admin for u in users)
    assert users[0].check_password("demo-shopper-pass")
    assert all(
        i.stock >= 0 and i.price_cents >= 0 for i in db.session.scalars(sa.select(Item))
    )
    assert all(u.created_at <= u.updated_at for u in users)


def test_seed_if_empty_does_nothing_when_items_exist(app, runner, make_item):
    make_item()
    result = seed(runner, "--if-empty", "--items", "5", "--users", "5")
    assert "not seeding" in result.output
    assert count(app, Item) == 1
    assert count(app, User) == 0


def test_seed_if_empty_seeds_an_empty_store(app, runner):
    seed(runner, "--if-empty", "--items", "5", "--users", "2", "--purchases", "4")
    assert (count(app, Item), count(app, User), count(app, UserItem)) == (5, 2, 4)


def test_inserts_after_seeding_get_fresh_ids(app, runner, seeded):
    """On PostgreSQL the sequences must move past the explicitly inserted ids."""
    seed(runner, "--items", "5", "--users", "2", "--purchases", "5")  # seed twice
    with app.app_context():
        user = User(name="New", email="new@example.com", password_hash="x")
        item = Item(name="New item", price_cents=100, stock=1)
        db.session.add_all([user, item])
        db.session.flush()
        order = order_row(user.id, user.email, 100, "after-seed")
        db.session.add(order)
        db.session.flush()
        line = UserItem(
            user_id=user.id,
            item_id=item.id,
            order_id=order.id,
            quantity=1,
            unit_price_cents=100,
        )
        db.session.add(line)
        db.session.commit()
        item_id = item.id

    assert item_id > max(seeded)
    assert (count(app, Item), count(app, User), count(app, UserItem)) == (56, 13, 206)


def test_seed_with_no_users_or_items_writes_no_purchases(app, runner):
    seed(runner, "--items", "0", "--users", "0", "--purchases", "10")
    assert count(app, UserItem) == 0


# --- no default admin: a new store has none until create-admin (SECURITY 25) --------


def test_s25_there_is_no_default_admin(fresh_store):
    """A freshly migrated store has no users at all; the first admin is created."""
    fresh_app = fresh_store()
    assert count(fresh_app, User) == 0
    client = fresh_app.test_client()
    for email, password in (
        ("admin@example.com", "admin"),
        ("admin@example.com", "demo-admin-pass"),
        ("admin@localhost", "password"),
    ):
        response = post_form(
            client, "/users/login", {"email": email, "password": password}
        )
        assert response.status_code == 422
    result = fresh_app.test_cli_runner().invoke(
        args=[
            "create-admin",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--password",
            "a-long-unusual-passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        admins = db.session.scalars(sa.select(User.email).where(User.is_admin)).all()
    assert admins == ["ada@example.com"]
