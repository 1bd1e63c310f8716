"""Operator commands: `flask create-admin`, `flask seed`, `flask import-items`."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask

from app.audit import events as audit
from app.extensions import begin_write, db
from app.items import csv_io
from app.models import Item, Order, User, UserItem, utcnow
from app.passwords import password_problem

DEMO_PASSWORD = "demo-shopper-pass"
CHUNK = 10_000


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed)
    app.cli.add_command(import_items)


@click.command("create-admin")
@click.option("--name", required=True, help="The admin's display name.")
@click.option("--email", required=True, help="The admin's sign-in email.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for (without echo) when not given.",
)
def create_admin(name: str, email: str, password: str) -> None:
    """Create an admin, or make an existing user an admin with this password."""
    email = User.normalize_email(email)
    name = name.strip()
    if not name or len(name) > 100:
        raise click.BadParameter(
            "Give a name of 1 to 100 characters.", param_hint="--name"
        )
    # The same check as the sign-up form (WTForms' Email uses email_validator).
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise click.BadParameter(
            f"Give a valid email address ({error}).", param_hint="--email"
        ) from None
    if len(email) > 254:
        raise click.BadParameter("Give a valid email address.", param_hint="--email")
    if problem := password_problem(password):
        raise click.BadParameter(problem, param_hint="--password")
    user = db.session.scalar(sa.select(User).where(User.email == email))
    created = user is None
    if created:
        user = User(name=name, email=email)
        db.session.add(user)
    before = {} if created else {f: getattr(user, f) for f in audit.USER_FIELDS}
    user.is_admin = True
    user.is_enabled = True
    user.set_password(password)
    user.end_sessions()
    db.session.flush()
    # In the audit trail without an actor: the command line.
    audit.record(
        "user.grant_admin", user.id, _only(before, "is_admin"), {"is_admin": True}
    )
    if before.get("is_enabled") is False:
        audit.record(
            "user.enable", user.id, {"is_enabled": False}, {"is_enabled": True}
        )
    db.session.commit()
    verb = "Created admin" if created else "Made existing user an admin:"
    click.echo(f"{verb} {user.name} <{user.email}> (id {user.id}).")


def _only(values: dict, key: str) -> dict:
    return {key: values[key]} if key in values else {}


@click.command("import-items")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Write the rows (all or none; only when no row has a problem).",
)
def import_items(path: Path, apply_: bool) -> None:
    """Check a CSV of items like /items/import does; --apply writes it.

    Columns name,description,price,stock and an optional id (to update that
    item). Every problem is listed by row; the exit code is 1 when there is any.
    """
    with path.open("rb") as file:
        data = file.read(csv_io.MAX_BYTES + 1)  # enough to refuse a larger one
    if apply_:
        begin_write()  # the check's reads and the writes in one transaction
    checked = csv_io.check(data, lock=apply_)
    for line in checked.report():
        click.echo(line, err=True)
    if not checked.ok:
        db.session.rollback()
        click.echo("Nothing was imported: fix the problems above and run again.")
        raise SystemExit(1)
    summary = (
        f"{len(checked.rows)} rows: {checked.count('add')} to add, "
        f"{checked.count('update')} to update, {checked.count('unchanged')} unchanged."
    )
    if not apply_:
        click.echo(f"{summary} Nothing written; run again with --apply to import.")
        return
    try:
        applied = csv_io.apply(checked)
    except csv_io.Conflict as conflict:  # the locks make this unlikely
        db.session.rollback()
        click.echo(f"Nothing was imported: {conflict}; run again.", err=True)
        raise SystemExit(1) from None
    db.session.commit()
    click.echo(
        f"Imported {applied.added} new and {applied.updated} updated items "
        f"({applied.unchanged} unchanged); the audit trail records them."
    )


ADJECTIVES = [
    "Classic",
    "Compact",
    "Rustic",
    "Modern",
    "Vintage",
    "Handmade",
    "Organic",
    "Deluxe",
    "Everyday",
    "Travel",
    "Cozy",
    "Bright",
    "Sturdy",
    "Slim",
    "Quiet",
    "Smart",
    "Gentle",
    "Bold",
    "Nordic",
    "Coastal",
    "Urban",
    "Heritage",
]
MATERIALS = [
    "Oak",
    "Walnut",
    "Bamboo",
    "Linen",
    "Cotton",
    "Wool",
    "Leather",
    "Ceramic",
    "Copper",
    "Steel",
    "Glass",
    "Cork",
    "Canvas",
    "Marble",
    "Brass",
    "Felt",
    "Stoneware",
    "Cedar",
    "Hemp",
    "Silk",
]
PRODUCTS = [
    "Mug",
    "Lamp",
    "Notebook",
    "Backpack",
    "Teapot",
    "Blanket",
    "Chair",
    "Candle",
    "Planter",
    "Bowl",
    "Clock",
    "Scarf",
    "Pen",
    "Tray",
    "Vase",
    "Shelf",
    "Cushion",
    "Kettle",
    "Journal",
    "Apron",
    "Basket",
    "Towel",
    "Bottle",
    "Tote",
    "Stool",
    "Mirror",
    "Frame",
    "Rug",
    "Knife",
    "Board",
    "Spoon",
    "Jar",
    "Lantern",
    "Wallet",
    "Hat",
    "Sweater",
]
FEATURES = """keeps its shape for years|is made in small batches|ships in recycled packaging
|is easy to clean|fits a small flat|makes a thoughtful gift|is finished by hand
|comes with a two-year guarantee|stacks neatly|ages beautifully""".replace(
    "\n", ""
).split("|")
FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Katherine",
    "Guido",
    "Hedy",
    "Donald",
    "Sophie",
    "Niklaus",
    "Annie",
    "Bjarne",
    "Karen",
    "John",
    "Mary",
    "Yukihiro",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "Rossum",
    "Lamarr",
    "Knuth",
    "Wilson",
    "Wirth",
    "Easley",
    "Stroustrup",
    "Jones",
    "Backus",
    "Shaw",
    "Matsumoto",
]


def _zipf_weights(n: int, s: float) -> list[float]:
    """Cumulative weights so a few items and users account for most purchases."""
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


def _next_id(model: type[db.Model]) -> int:
    return (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1


def _bulk_insert(model: type[db.Model], rows: list[dict], label: str) -> None:
    """Insert rows in chunks inside the caller's transaction, showing progress."""
    if not rows:
        return
    columns = list(rows[0])
    copy = db.engine.dialect.name == "postgresql"
    with click.progressbar(
        length=len(rows), label=label.ljust(16), show_pos=True
    ) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            if copy:
                _copy_rows(model.__table__, columns, chunk)
            else:
                db.session.execute(sa.insert(model), chunk)
            bar.update(len(chunk))


def _copy_rows(table: sa.Table, columns: list[str], rows: list[dict]) -> None:
    """PostgreSQL's COPY on the session's own connection: many times faster than
    multi-row INSERTs for a million rows, and inside the same transaction."""
    driver = db.session.connection().connection.driver_connection
    names = ", ".join(table.c[name].name for name in columns)
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[name] for name in columns])


def _reset_sequences() -> None:
    """Rows were inserted with explicit ids: move PostgreSQL's sequences past them."""
    if db.engine.dialect.name != "postgresql":
        return
    for model in (User, Item, Order, UserItem):
        table = model.__table__
        next_id = sa.func.coalesce(
            sa.select(sa.func.max(table.c.id)).scalar_subquery(), 0
        )
        db.session.execute(
            sa.select(
                sa.func.setval(
                    sa.func.pg_get_serial_sequence(table.name, "id"), next_id + 1, False
                )
            )
        )


@click.command("seed")
@click.option(
    "--items", "n_items", default=120, show_default=True, type=click.IntRange(0)
)
@click.option(
    "--users", "n_users", default=40, show_default=True, type=click.IntRange(0)
)
@click.option(
    "--purchases", "n_purchases", default=600, show_default=True, type=click.IntRange(0)
)
@click.option(
    "--random-seed", default=42, show_default=True, help="For repeatable data."
)
@click.option(
    "--if-empty", is_flag=True, help="Do nothing when the store has items already."
)
def seed(
    n_items: int, n_users: int, n_purchases: int, random_seed: int, if_empty: bool
) -> None:
    """Add demo users, items and purchases (bulk inserts, fast at large counts)."""
    if if_empty and db.session.scalar(sa.select(sa.func.count(Item.id))):
        click.echo("The store has items already; not seeding.")
        return
    rng = random.Random(random_seed)
    now = utcnow()
    year = timedelta(days=365)

    first_item, first_user = _next_id(Item), _next_id(User)
    items = []
    for offset in range(n_items):
        item_id = first_item + offset
        noun = rng.choice(PRODUCTS)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {noun}"
        if rng.random() < 0.5:
            name += f" No. {item_id}"
        created = now - year * rng.random()
        stock = (
            0
            if rng.random() < 0.06
            else rng.choice((1, 2, 3, 5, 8, 12, 20, 40, 75, 150))
        )
        items.append(
            {
                "id": item_id,
                "name": name,
                "description": f"This {name.lower()} {rng.choice(FEATURES)}, "
                f"and it {rng.choice(FEATURES)}.",
                "price_cents": int(rng.lognormvariate(7.6, 0.9)) // 5 * 5 + 99,
                "stock": stock,
                "created_at": created,
                "updated_at": created,
            }
        )

    password_hash = None
    users = []
    for offset in range(n_users):
        if password_hash is None:
            # One hash for every demo shopper: hashing is slow on purpose.
            probe = User()
            probe.set_password(DEMO_PASSWORD)
            password_hash = probe.password_hash
        user_id = first_user + offset
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        created = now - year * rng.random()
        users.append(
            {
                "id": user_id,
                "name": name,
                "email": f"{name.split()[0].lower()}.{user_id}@example.com",
                "password_hash": password_hash,
                "is_admin": False,
                "is_enabled": True,
                "session_token": f"{rng.getrandbits(128):032x}",
                "created_at": created,
                "updated_at": created,
            }
        )

    _bulk_insert(Item, items, "Items")
    _bulk_insert(User, users, "Users")

    item_rows = db.session.execute(
        sa.select(Item.id, Item.price_cents).where(Item.archived_at.is_(None))
    ).all()
    user_ids = db.session.scalars(
        sa.select(User.id).where(User.is_admin.is_(False))
    ).all()
    lines: list[dict] = []
    orders: list[dict] = []
    if n_purchases and item_rows and user_ids:
        rng.shuffle(item_rows)
        item_weights = _zipf_weights(len(item_rows), 0.9)
        user_weights = _zipf_weights(len(user_ids), 0.7)
        order_id, line_id = _next_id(Order), _next_id(UserItem)
        while len(lines) < n_purchases:
            (user_id,) = rng.choices(user_ids, cum_weights=user_weights)
            size = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), n_purchases - len(lines))
            bought_at = now - year * rng.random() ** 1.5
            total = 0
            for item_id, price in rng.choices(
                item_rows, cum_weights=item_weights, k=size
            ):
                quantity = rng.choice((1, 1, 1, 1, 2, 2, 3))
                total += quantity * price
                lines.append(
                    {
                        "id": line_id,
                        "user_id": user_id,
                        "item_id": item_id,
                        "order_id": order_id,
                        "quantity": quantity,
                        "unit_price_cents": price,
                        "created_at": bought_at,
                        "updated_at": bought_at,
                    }
                )
                line_id += 1
            orders.append(
                {
                    "id": order_id,
                    "user_id": user_id,
                    "token": f"seed-{order_id}-{rng.getrandbits(64):016x}",
                    "total_cents": total,
                    "created_at": bought_at,
                    "updated_at": bought_at,
                }
            )
            order_id += 1
    _bulk_insert(Order, orders, "Orders")
    _bulk_insert(UserItem, lines, "Purchase lines")
    _reset_sequences()
    db.session.commit()
    click.echo(
        f"Seeded {len(items)} items, {len(users)} users, {len(lines)} purchase lines "
        f"in {len(orders)} orders. Demo shoppers sign in with password {DEMO_PASSWORD!r}."
    )
