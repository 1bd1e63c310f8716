"""The demo store `flask seed` writes: a catalogue on a two-level category
tree with pictures, shoppers and a year of orders.

Items come from the shelves of app/demo_catalogue.py (a frying pan is
cookware, priced like one); names, prices and stock are drawn from a seeded
random generator, so the same arguments give the same store. Most items are
in stock, a few are running low, a few sold out. Each shelf has
PICTURES_PER_SHELF pictures drawn with Pillow (app/demo_pictures.py) and
written once, before the command exits; its items share them. purchases follow a Zipf curve (a few best
sellers and regulars account for most lines), which is what the
recommendations and the benchmarks need to be realistic. Large counts are
written in bulk (PostgreSQL's COPY), with a progress bar.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import timedelta

import click
import sqlalchemy as sa

from app.demo_catalogue import CATALOGUE, FEATURES, Shelf
from app.demo_pictures import picture
from app.extensions import db
from app.items.tree import slugify
from app.limits import ORDER_NUMBER_LENGTH
from app.media.storage import storage
from app.models import (
    Category,
    Item,
    ItemImage,
    Order,
    OrderEvent,
    Review,
    User,
    UserItem,
    utcnow,
)
from app.orders.numbers import ALPHABET
from app.orders.statuses import CANCELLED, DELIVERED, NOT_COUNTED, PAID, SHIPPED

DEMO_PASSWORD = "demo-shopper-pass"
# Every table seed_store adds rows to: `flask seed` gathers the planner's
# statistics for each of them afterwards (a table left out is planned blind
# until autovacuum notices it: 130,000 item pictures at the bench's size).
DEMO_TABLES = (
    "categories",
    "items",
    "item_images",
    "users",
    "orders",
    "user_items",
    "order_events",
    "reviews",
)
# The first demo shopper's address, printed by `make run`.
DEMO_SHOPPER_EMAIL = "shopper@example.com"
CHUNK = 10_000
PICTURES_PER_SHELF = 2
# The standard method migration 0007 sets up: $4.95, free from $50.
STANDARD_SHIPPING, FREE_SHIPPING_OVER = 495, 5_000
STREETS = [
    "Maple Avenue",
    "Oak Street",
    "Elm Road",
    "Harbor Way",
    "Mill Lane",
    "Cedar Court",
    "Park Place",
    "River Drive",
    "Orchard Row",
    "Hill Street",
]
CITIES = [
    ("Portland", "97205"),
    ("Austin", "78701"),
    ("Boston", "02108"),
    ("Denver", "80202"),
    ("Madison", "53703"),
    ("Savannah", "31401"),
    ("Burlington", "05401"),
    ("Santa Fe", "87501"),
]


@dataclass(frozen=True)
class Seeded:
    items: int
    users: int
    lines: int
    orders: int


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
    with click.progressbar(
        length=len(rows), label=label.ljust(16), show_pos=True
    ) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            _insert_rows(model, chunk)
            bar.update(len(chunk))


def _insert_rows(model: type[db.Model], rows: list[dict]) -> None:
    """One chunk of rows: COPY on PostgreSQL, a multi-row INSERT elsewhere."""
    if not rows:
        return
    if db.engine.dialect.name == "postgresql":
        _copy_rows(model.__table__, list(rows[0]), rows)
    else:
        db.session.execute(sa.insert(model), rows)


def _copy_rows(
    table: sa.Table, columns: list[str], rows: list[dict], into: str | None = None
) -> None:
    """PostgreSQL's COPY on the session's own connection: many times faster than
    multi-row INSERTs for a million rows, and inside the same transaction.
    `into`: another table of the same columns (a staging table)."""
    driver = db.session.connection().connection.driver_connection
    names = ", ".join(table.c[name].name for name in columns)
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {into or table.name} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[name] for name in columns])


class _LineStage:
    """Purchase lines on their way in. On PostgreSQL they are copied, a chunk
    at a time, into a temporary table without triggers, keys or indexes, and
    go into user_items a million at a time by INSERT ... SELECT: the running
    totals' statement triggers (migration 0006) then add up a million lines
    at once, rather than rewriting each item's and buyer's row again for
    every chunk of 10,000. Elsewhere each chunk goes straight in."""

    TABLE = "seed_lines"

    def __init__(self) -> None:
        self.staging = db.engine.dialect.name == "postgresql"
        self.columns: list[str] | None = None
        if self.staging:
            db.session.execute(
                sa.text(
                    f"CREATE TEMPORARY TABLE {self.TABLE} "
                    "(LIKE user_items INCLUDING DEFAULTS) ON COMMIT DROP"
                )
            )

    def add(self, lines: list[dict]) -> None:
        if not lines:
            return
        if not self.staging:
            _insert_rows(UserItem, lines)
            return
        self.columns = self.columns or list(lines[0])
        _copy_rows(UserItem.__table__, self.columns, lines, into=self.TABLE)

    def insert(self) -> None:
        """A million lines a statement, with the memory for the triggers'
        look-ups into the new lines to stay hashed (a transition table
        spilled to disk would be scanned again for every line)."""
        if self.staging and self.columns:
            lines = UserItem.__table__
            stage = sa.table(self.TABLE, *(sa.column(name) for name in self.columns))
            first, last = db.session.execute(
                sa.select(sa.func.min(stage.c.id), sa.func.max(stage.c.id))
            ).one()
            db.session.execute(sa.text("SET LOCAL work_mem = '512MB'"))
            with click.progressbar(
                length=last - first + 1, label="Lines' totals".ljust(16), show_pos=True
            ) as bar:
                for start in range(first, last + 1, STAGED_LINES_A_STATEMENT):
                    end = start + STAGED_LINES_A_STATEMENT
                    batch = sa.select(stage).where(
                        stage.c.id >= start, stage.c.id < end
                    )
                    db.session.execute(
                        lines.insert().from_select(
                            self.columns, batch.order_by(stage.c.id)
                        )
                    )
                    bar.update(min(end, last + 1) - start)
            db.session.execute(sa.text("RESET work_mem"))
        if self.staging:
            db.session.execute(sa.text(f"DROP TABLE {self.TABLE}"))


def _reset_sequences() -> None:
    """Rows were inserted with explicit ids: move PostgreSQL's sequences past them."""
    if db.engine.dialect.name != "postgresql":
        return
    for model in (User, Item, Order, UserItem, Category, ItemImage):
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


def seed_store(
    n_items: int, n_users: int, n_purchases: int, random_seed: int
) -> Seeded:
    """Write the demo rows in the session's transaction (the caller commits)."""
    rng = random.Random(random_seed)
    now = utcnow()
    year = timedelta(days=365)

    first_item, first_user = _next_id(Item), _next_id(User)
    shelves = _categories() if n_items else []
    pictures = _pictures(shelves) if n_items else {}
    items, images = [], []
    image_id = _next_id(ItemImage)
    for offset in range(n_items):
        item_id = first_item + offset
        category_id, shelf = rng.choice(shelves)
        item = _demo_item(rng, shelf)
        created = now - year * rng.random()
        items.append(
            {
                "id": item_id,
                **item,
                "category_id": category_id,
                "created_at": created,
                "updated_at": created,
            }
        )
        shown = pictures[shelf.name]
        for position in range(1 if rng.random() < 0.7 else len(shown)):
            made = shown[(offset + position) % len(shown)]
            images.append(
                {
                    "id": image_id,
                    "item_id": item_id,
                    "position": position,
                    "alt": f"{item['name']}, view {position + 1}",
                    "width": made.width,
                    "height": made.height,
                    "key": made.key,
                    "widths": " ".join(str(w) for w in made.widths),
                    "created_at": created,
                    "updated_at": created,
                }
            )
            image_id += 1

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
        email = f"{name.split()[0].lower()}.{user_id}@example.com"
        if offset == 0 and not _email_taken(DEMO_SHOPPER_EMAIL):
            email = DEMO_SHOPPER_EMAIL
        users.append(
            {
                "id": user_id,
                "name": name,
                "email": email,
                "password_hash": password_hash,
                "is_admin": False,
                "is_enabled": True,
                "session_token": f"{rng.getrandbits(128):032x}",
                "created_at": created,
                "updated_at": created,
            }
        )

    _bulk_insert(Item, items, "Items")
    _bulk_insert(ItemImage, images, "Item pictures")
    _bulk_insert(User, users, "Users")

    item_rows = db.session.execute(
        sa.select(Item.id, Item.price_cents, Item.name).where(
            Item.archived_at.is_(None)
        )
    ).all()
    buyers = db.session.execute(
        sa.select(User.id, User.name, User.email).where(User.is_admin.is_(False))
    ).all()
    # Orders, their lines and events go in a chunk at a time (a store of ten
    # million lines never holds them all in memory); the first lines are kept
    # for the reviews.
    lines: list[dict] = []
    orders: list[dict] = []
    events: list[dict] = []
    reviewable: list[dict] = []
    written = {"lines": 0, "orders": 0}
    bar = click.progressbar(
        length=n_purchases, label="Orders and lines".ljust(16), show_pos=True
    )

    staged = _LineStage()

    def flush() -> None:
        _insert_rows(Order, orders)
        staged.add(lines)
        _insert_rows(OrderEvent, events)
        written["lines"] += len(lines)
        written["orders"] += len(orders)
        bar.update(len(lines))
        room = REVIEWED_LINES_KEPT - len(reviewable)
        reviewable.extend(lines[:room])
        for rows in (orders, lines, events):
            rows.clear()

    with bar:
        if n_purchases and item_rows and buyers:
            rng.shuffle(item_rows)
            item_weights = _zipf_weights(len(item_rows), 0.9)
            user_weights = _zipf_weights(len(buyers), 0.7)
            addresses = {user_id: _address(rng, name) for user_id, name, _ in buyers}
            numbers: set[str] = set()
            order_id, line_id = _next_id(Order), _next_id(UserItem)
            while written["lines"] + len(lines) < n_purchases:
                if len(lines) >= CHUNK:
                    flush()
                ((user_id, _, email),) = rng.choices(buyers, cum_weights=user_weights)
                left = n_purchases - written["lines"] - len(lines)
                size = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), left)
                bought_at = now - year * rng.random() ** 1.5
                status = _status(rng, now - bought_at)
                subtotal = 0
                for item_id, price, name in rng.choices(
                    item_rows, cum_weights=item_weights, k=size
                ):
                    quantity = rng.choice((1, 1, 1, 1, 2, 2, 3))
                    subtotal += quantity * price
                    lines.append(
                        {
                            "id": line_id,
                            "user_id": user_id,
                            "item_id": item_id,
                            "order_id": order_id,
                            "item_name": name,
                            "quantity": quantity,
                            "unit_price_cents": price,
                            "counted": status not in NOT_COUNTED,
                            "created_at": bought_at,
                            "updated_at": bought_at,
                        }
                    )
                    line_id += 1
                shipping = 0 if subtotal >= FREE_SHIPPING_OVER else STANDARD_SHIPPING
                orders.append(
                    {
                        "id": order_id,
                        "number": _unique_number(rng, numbers),
                        "user_id": user_id,
                        "email": email,
                        "status": status,
                        "token": f"seed-{order_id}-{rng.getrandbits(64):016x}",
                        "subtotal_cents": subtotal,
                        "shipping_cents": shipping,
                        "tax_cents": 0,
                        "total_cents": subtotal + shipping,
                        "refunded_cents": subtotal + shipping
                        if status in NOT_COUNTED
                        else 0,
                        "tax_rate_bp": 0,
                        "payment_method": "bank_transfer",
                        "shipping_method": "standard",
                        "shipping_method_name": "Standard delivery (3-5 working days)",
                        "tracking_number": (
                            f"1Z{rng.getrandbits(48):012X}"
                            if status in (SHIPPED, DELIVERED)
                            else None
                        ),
                        **addresses[user_id],
                        "created_at": bought_at,
                        "updated_at": bought_at,
                    }
                )
                events.append(
                    {
                        "order_id": order_id,
                        "from_status": None,
                        "to_status": status,
                        "actor_id": None,
                        "note": "Placed with the demo data.",
                        "created_at": bought_at,
                    }
                )
                order_id += 1
        flush()
    staged.insert()
    _bulk_insert(Review, _demo_reviews(rng, reviewable, now), "Reviews")
    _reset_sequences()
    return Seeded(len(items), len(users), written["lines"], written["orders"])


def _demo_item(rng: random.Random, shelf: Shelf) -> dict:
    """One thing from a shelf: its name, a price in its range, a description
    of what it is for, and stock like a real shop's (most in stock, some
    low, a few sold out)."""
    make, noun = rng.choice(shelf.makes), rng.choice(shelf.nouns)
    name = f"{make} {noun}"
    if rng.random() < 0.6:
        name += f", {rng.choice(shelf.variants)}"
    low, high = shelf.cents
    # Prices cluster at the cheap end of the range and end in .00 or .50/.95.
    cents = int(low + (high - low) * rng.random() ** 1.6)
    cents = cents // 100 * 100 + rng.choice((0, 0, 50, 95))
    roll = rng.random()
    if roll < 0.05:
        stock = 0
    elif roll < 0.15:
        stock = rng.randint(1, 4)
    else:
        stock = rng.choice((6, 8, 12, 15, 20, 24, 30, 40, 60, 85, 120))
    description = (
        f"A {make.lower()} {noun.lower()} for {rng.choice(shelf.uses)}. "
        f"{rng.choice(FEATURES)}"
    )
    return {
        "name": name,
        "price_cents": cents,
        "stock": stock,
        "description": description,
    }


def _categories() -> list[tuple[int, Shelf]]:
    """The demo tree (departments, their shelves), made where missing, found
    by slug where a seed made it before: (category id, shelf) per shelf."""
    existing = dict(db.session.execute(sa.select(Category.slug, Category.id)).all())
    shelves = []
    for position, (department, department_shelves) in enumerate(CATALOGUE.items()):
        parent = _category(existing, department, None, position)
        for shelf_position, shelf in enumerate(department_shelves):
            shelves.append(
                (_category(existing, shelf.name, parent, shelf_position), shelf)
            )
    return shelves


def _category(existing: dict, name: str, parent: int | None, position: int) -> int:
    slug = slugify(name)
    if slug not in existing:
        category = Category(name=name, slug=slug, parent_id=parent, position=position)
        db.session.add(category)
        db.session.flush()
        existing[slug] = category.id
    return existing[slug]


def _pictures(shelves: list[tuple[int, Shelf]]) -> dict[str, list]:
    """Each shelf's pictures, drawn, made into their copies and stored."""
    files = storage()
    made: dict[str, list] = {}
    with click.progressbar(
        length=len(shelves) * PICTURES_PER_SHELF,
        label="Pictures".ljust(16),
        show_pos=True,
    ) as bar:
        for index, (_, shelf) in enumerate(shelves):
            made[shelf.name] = []
            for variant in range(PICTURES_PER_SHELF):
                # Shapes turn with the shelf too: neighbouring shelves differ.
                processed = picture(shelf.color, index + variant)
                for key, data in processed.files.items():
                    if not files.exists(key):
                        files.save(key, data)
                made[shelf.name].append(processed)
                bar.update(1)
    return made


def _status(rng: random.Random, age: timedelta) -> str:
    """A demo order's status for its age: most old orders are delivered."""
    if rng.random() < 0.03:
        return CANCELLED
    if age < timedelta(days=2):
        return PAID
    if age < timedelta(days=6):
        return SHIPPED
    return DELIVERED


def _address(rng: random.Random, name: str) -> dict[str, str]:
    city, postcode = rng.choice(CITIES)
    return {
        "ship_name": name,
        "ship_line1": f"{rng.randint(1, 240)} {rng.choice(STREETS)}",
        "ship_line2": "",
        "ship_city": city,
        "ship_postcode": postcode,
        "ship_country": "US",
    }


def _unique_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = "".join(rng.choice(ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))
        if number not in taken:
            taken.add(number)
            return number


def _email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == email)) is not None


# Demo reviews: some buyers review what they bought (the triggers of
# migration 0010 keep each item's rating totals as the rows go in).
REVIEWS_MAX = 2_000
# The purchase lines the reviews are drawn from, the first ones seeded: far
# more than REVIEWS_MAX needs (one counted line in four is reviewed).
REVIEWED_LINES_KEPT = 200_000
# Staged purchase lines moved into user_items by one statement (PostgreSQL).
STAGED_LINES_A_STATEMENT = 1_000_000
REVIEW_WORDS = {
    5: ("Love it", "Exactly as described, and better in person."),
    4: ("Very good", "Does the job well; one small thing could be better."),
    3: ("It is fine", "Nothing wrong with it, nothing special either."),
    2: ("Not for me", "Smaller than I expected from the pictures."),
    1: ("Disappointed", "It did not last, sadly."),
}


def _demo_reviews(rng: random.Random, lines: list[dict], now) -> list[dict]:
    """About one counted purchase in four gets its buyer's review, once per
    buyer and item (a store seeded again keeps the reviews it has), a few
    days after the purchase."""
    reviewed: set[tuple[int, int]] = {
        (row.user_id, row.item_id)
        for row in db.session.execute(sa.select(Review.user_id, Review.item_id))
    }
    rows = []
    for line in lines:
        pair = (line["user_id"], line["item_id"])
        if len(rows) >= REVIEWS_MAX:
            break
        if not line["counted"] or pair in reviewed or rng.random() >= 0.25:
            continue
        reviewed.add(pair)
        rating = rng.choices((5, 4, 3, 2, 1), weights=(45, 30, 12, 7, 6))[0]
        title, body = REVIEW_WORDS[rating]
        when = min(now, line["created_at"] + timedelta(days=rng.randint(2, 20)))
        rows.append(
            {
                "user_id": line["user_id"],
                "item_id": line["item_id"],
                "rating": rating,
                "title": title,
                "body": body,
                "created_at": when,
                "updated_at": when,
            }
        )
    return rows
