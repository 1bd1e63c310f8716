"""The demo store `flask seed` writes: items, shoppers and a year of orders.

Names and prices are drawn from a seeded random generator, so the same
arguments give the same store; purchases follow a Zipf curve (a few best
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

from app.extensions import db
from app.limits import ORDER_NUMBER_LENGTH
from app.models import Item, Order, OrderEvent, Review, User, UserItem, utcnow
from app.orders.numbers import ALPHABET
from app.orders.statuses import CANCELLED, DELIVERED, NOT_COUNTED, PAID, SHIPPED

DEMO_PASSWORD = "demo-shopper-pass"
# The first demo shopper's address, printed by `make run`.
DEMO_SHOPPER_EMAIL = "shopper@example.com"
CHUNK = 10_000
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


def seed_store(
    n_items: int, n_users: int, n_purchases: int, random_seed: int
) -> Seeded:
    """Write the demo rows in the session's transaction (the caller commits)."""
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
    _bulk_insert(User, users, "Users")

    item_rows = db.session.execute(
        sa.select(Item.id, Item.price_cents, Item.name).where(
            Item.archived_at.is_(None)
        )
    ).all()
    buyers = db.session.execute(
        sa.select(User.id, User.name, User.email).where(User.is_admin.is_(False))
    ).all()
    lines: list[dict] = []
    orders: list[dict] = []
    events: list[dict] = []
    if n_purchases and item_rows and buyers:
        rng.shuffle(item_rows)
        item_weights = _zipf_weights(len(item_rows), 0.9)
        user_weights = _zipf_weights(len(buyers), 0.7)
        addresses = {user_id: _address(rng, name) for user_id, name, _ in buyers}
        numbers: set[str] = set()
        order_id, line_id = _next_id(Order), _next_id(UserItem)
        while len(lines) < n_purchases:
            ((user_id, _, email),) = rng.choices(buyers, cum_weights=user_weights)
            size = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), n_purchases - len(lines))
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
    _bulk_insert(Order, orders, "Orders")
    _bulk_insert(UserItem, lines, "Purchase lines")
    _bulk_insert(OrderEvent, events, "Order events")
    _bulk_insert(Review, _demo_reviews(rng, lines, now), "Reviews")
    _reset_sequences()
    return Seeded(len(items), len(users), len(lines), len(orders))


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
REVIEW_WORDS = {
    5: ("Love it", "Exactly as described, and better in person."),
    4: ("Very good", "Does the job well; one small thing could be better."),
    3: ("It is fine", "Nothing wrong with it, nothing special either."),
    2: ("Not for me", "Smaller than I expected from the pictures."),
    1: ("Disappointed", "It did not last, sadly."),
}


def _demo_reviews(rng: random.Random, lines: list[dict], now) -> list[dict]:
    """About one counted purchase in four gets its buyer's review, once per
    buyer and item, a few days after the purchase."""
    reviewed: set[tuple[int, int]] = set()
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
