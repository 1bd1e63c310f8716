"""Operator commands: `flask create-admin`, `flask seed` and `flask orders expire`."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Item, Order, OrderEvent, User, UserItem
from app.orders.statuses import NOT_COUNTED, STATUSES
from tests.helpers import (
    assert_totals_match_rows,
    client_for,
    count,
    forget_statistics,
    order_events_of,
    order_row,
    order_status,
    place_order,
    post_form,
    row_of,
    rows_per_table,
    set_order,
    statistics_marks,
    stock_of,
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


def test_seed_gathers_the_planners_statistics(app, runner):
    """Right after a seed the planner knows the new rows (ANALYZE) of every
    table the seed added rows to, rather than guessing until autovacuum gets
    round to them."""
    forget_statistics(app)
    before, rows_before = statistics_marks(app), rows_per_table(app)
    seed(runner, "--items", "50", "--users", "10", "--purchases", "200")
    after, rows_after = statistics_marks(app), rows_per_table(app)
    grown = {name for name, rows in rows_after.items() if rows > rows_before[name]}
    assert {"items", "item_images", "users", "user_items", "reviews"} <= grown
    for table in grown:
        assert table in after, table
        assert after[table] != before.get(table), table


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
    """Each order's subtotal is its lines at the price paid; shipping and tax
    come on top, and the total adds them up."""
    subtotals = dict(
        db.session.execute(
            sa.select(
                UserItem.order_id,
                sa.func.sum(UserItem.quantity * UserItem.unit_price_cents),
            ).group_by(UserItem.order_id)
        ).all()
    )
    orders = db.session.execute(
        sa.select(
            Order.id,
            Order.subtotal_cents,
            Order.shipping_cents,
            Order.tax_cents,
            Order.total_cents,
        )
    ).all()
    assert None not in subtotals
    assert subtotals == {order.id: order.subtotal_cents for order in orders}
    for order in orders:
        assert order.total_cents == (
            order.subtotal_cents + order.shipping_cents + order.tax_cents
        ), order
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


def test_seeded_orders_have_a_life_and_the_totals_count_only_live_lines(app, seeded):
    """Each demo order has a status, a number and the one event that placed it;
    a cancelled one is refunded and its lines no longer count as purchases."""
    with app.app_context():
        orders = db.session.execute(
            sa.select(
                Order.id,
                Order.number,
                Order.status,
                Order.refunded_cents,
                Order.total_cents,
            )
        ).all()
        events = dict(
            db.session.execute(
                sa.select(OrderEvent.order_id, sa.func.count()).group_by(
                    OrderEvent.order_id
                )
            ).all()
        )
    assert events == {order.id: 1 for order in orders}
    assert len({order.number for order in orders}) == len(orders)
    assert {order.status for order in orders} <= set(STATUSES)
    for order in orders:
        refunded = order.total_cents if order.status in NOT_COUNTED else 0
        assert order.refunded_cents == refunded, order
    # Lines of cancelled orders are not counted, and the totals agree.
    assert_totals_match_rows(app)


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


# --- flask orders expire ----------------------------------------------------------


def test_expire_cancels_only_unpaid_orders_past_their_window(
    app, runner, make_user, make_item
):
    """An unpaid bank-transfer order older than PAYMENT_WINDOWS is cancelled by
    the system (no actor) with its stock back; a younger unpaid one and an old
    paid one are left as they are."""
    sam = make_user("Sam Shopper", "sam@example.com")
    admin = make_user("Alex Admin", "admin@example.com", is_admin=True)
    lamp = make_item(name="Lamp", price_cents=1999, stock=10)
    shopper = client_for(app, "sam@example.com")
    old = place_order(shopper, {lamp: 2})
    young = place_order(shopper, {lamp: 3})
    paid = place_order(shopper, {lamp: 1})
    assert stock_of(app, lamp) == 4
    window = app.config["PAYMENT_WINDOWS"]["bank_transfer"]
    with app.app_context():
        placed = db.session.scalar(
            sa.select(Order.created_at).where(Order.number == old)
        )
    set_order(app, old, created_at=placed - window - timedelta(minutes=1))
    set_order(app, young, created_at=placed - window + timedelta(minutes=5))
    set_order(app, paid, created_at=placed - window - timedelta(days=3))
    moved = post_form(
        client_for(app, "admin@example.com"),
        f"/purchases/orders/{paid}/status",
        {"status": "paid"},
        page=f"/purchases/orders/{paid}",
    )
    assert moved.status_code == 302

    result = runner.invoke(args=["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Cancelled 1 unpaid order: {old}."
    assert order_status(app, old)[0] == "cancelled"
    assert order_status(app, old)[1] == 0  # nothing was paid, nothing refunded
    assert order_events_of(app, old)[1:] == [
        (
            "pending_payment",
            "cancelled",
            None,
            f"Stock returned. Not paid within {window.days} days.",
        )
    ]
    assert stock_of(app, lamp) == 6  # the two units back, once
    assert order_status(app, young)[0] == "pending_payment"
    assert len(order_events_of(app, young)) == 1
    assert order_status(app, paid)[0] == "paid"
    assert [e[:3] for e in order_events_of(app, paid)] == [
        (None, "pending_payment", sam),
        ("pending_payment", "paid", admin),
    ]
    assert_totals_match_rows(app)

    again = runner.invoke(args=["orders", "expire"])
    assert again.exit_code == 0, again.output
    assert "No unpaid orders past their payment window." in again.output
    assert stock_of(app, lamp) == 6
    assert len(order_events_of(app, old)) == 2


def test_expire_with_nothing_due_writes_nothing(app, runner, make_user, make_item):
    make_user("Sam Shopper", "sam@example.com")
    lamp = make_item(name="Lamp", stock=3)
    number = place_order(client_for(app, "sam@example.com"), {lamp: 1})
    result = runner.invoke(args=["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert "No unpaid orders past their payment window." in result.output
    assert order_status(app, number)[0] == "pending_payment"
    assert stock_of(app, lamp) == 2


def test_the_seed_reads_like_a_real_shop(app, client, runner):
    """Items on a two-level tree of shelves, named and priced for their shelf,
    mostly in stock; every item with a picture whose files are on disk and
    served, drawn before the command exited."""
    from app.demo_catalogue import CATALOGUE
    from app.models import Category, ItemImage
    from tests.helpers import media_files

    result = seed(runner, "--items", "300", "--users", "2", "--purchases", "0")
    assert "Pictures" in result.output  # the progress bar
    shelves = {shelf.name: shelf for shelves in CATALOGUE.values() for shelf in shelves}
    with app.app_context():
        tree = db.session.execute(
            sa.select(Category.id, Category.name, Category.parent_id)
        ).all()
        parents = {row.id: row.parent_id for row in tree}
        names = {row.id: row.name for row in tree}
        assert {names[i] for i, p in parents.items() if p is None} == set(CATALOGUE)
        assert all(parents[p] is None for p in parents.values() if p is not None)
        items = db.session.execute(
            sa.select(Item.name, Item.price_cents, Item.stock, Item.category_id)
        ).all()
        keys = set(db.session.scalars(sa.select(ItemImage.key)))
        pictured = set(db.session.scalars(sa.select(ItemImage.item_id)))
    assert len(pictured) == 300
    for name, price, _, category_id in items:
        shelf = shelves[names[category_id]]
        assert any(noun in name for noun in shelf.nouns), name
        assert shelf.cents[0] <= price <= shelf.cents[1] + 95, (name, price)
    stocks = [stock for _, _, stock, _ in items]
    assert sum(s == 0 for s in stocks) < 0.12 * len(stocks)
    assert sum(s >= 5 for s in stocks) > 0.7 * len(stocks)
    assert 1 <= len(keys) <= 40  # a few dozen pictures, shared
    files = media_files(app)
    assert {name.split("-")[0] for name in files} == keys
    card = client.get("/items/").get_data(as_text=True)
    (src,) = re.findall(r'<img src="(/media/[^"]+)"', card)[:1]
    assert client.get(src).status_code == 200
    # Seeding again reuses the tree and the pictures.
    seed(runner, "--items", "10", "--users", "0", "--purchases", "0")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Category.id))) == len(tree)
    assert media_files(app) == files
