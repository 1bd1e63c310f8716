"""The store's models: users buy items through user_items (has_many :through)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.limits import (
    ADDRESS_CITY_MAX,
    ADDRESS_LINE_MAX,
    ADDRESS_NAME_MAX,
    CATEGORY_NAME_MAX,
    CATEGORY_SLUG_MAX,
    EMAIL_MAX,
    IMAGE_ALT_MAX,
    ITEM_NAME_MAX,
    ORDER_NUMBER_MAX,
    PAGE_TITLE_MAX,
    POSTCODE_MAX,
    RATING_MAX,
    RATING_MIN,
    REVIEW_BODY_MAX,
    REVIEW_TITLE_MAX,
    SHIPPING_CODE_MAX,
    SHIPPING_NAME_MAX,
    TAX_RATE_MAX_BP,
    TRACKING_NUMBER_MAX,
    USER_NAME_MAX,
)
from app.mail.kinds import KINDS, PENDING
from app.mail.kinds import STATUSES as OUTBOX_STATUSES
from app.observability import current_request_id
from app.orders.numbers import new_number
from app.orders.statuses import STATUSES, sql_list


def utcnow() -> datetime:
    """Naive UTC timestamps: one convention for SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


LIVE = {
    "sqlite_where": sa.text("archived_at IS NULL"),
    "postgresql_where": sa.text("archived_at IS NULL"),
}
# Engine-specific search indexes made by migrations 0002 and 0011 and kept
# out of the models: SQLite's FTS5 tables (items_search*, items_words*) and
# PostgreSQL's trigram and tsvector indexes.
SEARCH_OBJECTS = ("items_search", "ix_items_name_trgm", "items_words", "ix_items_words")


def _current_item_name(context) -> str:
    """The default of user_items.item_name: the item's name as the line is written."""
    item_id = context.get_current_parameters()["item_id"]
    return context.connection.scalar(
        sa.text("SELECT name FROM items WHERE id = :id"), {"id": item_id}
    )


class TimestampMixin:
    """`created_at` set on insert and `updated_at` bumped on every update."""

    created_at: so.Mapped[datetime] = so.mapped_column(
        default=utcnow, server_default=sa.func.now()
    )
    updated_at: so.Mapped[datetime] = so.mapped_column(
        default=utcnow, onupdate=utcnow, server_default=sa.func.now()
    )


class User(UserMixin, TimestampMixin, db.Model):
    """A shopper or an admin."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("email = lower(email)", name="email_lower_case"),
        sa.CheckConstraint("length(name) >= 1", name="name_not_empty"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(USER_NAME_MAX))
    # Stored lower-cased (the CHECK holds it), so the unique index is case-insensitive.
    email: so.Mapped[str] = so.mapped_column(sa.String(EMAIL_MAX), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    is_admin: so.Mapped[bool] = so.mapped_column(
        default=False, server_default=sa.false()
    )
    is_enabled: so.Mapped[bool] = so.mapped_column(
        default=True, server_default=sa.true()
    )
    # Part of the login cookie's identity: bumping it ends every session of this user.
    session_token: so.Mapped[str] = so.mapped_column(
        sa.String(32), default=lambda: secrets.token_hex(16)
    )
    # Kept by the database (triggers of migration 0006) as lines are written.
    purchase_lines: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # Set when the shopper deleted the account: the name and email are gone,
    # sign-in is impossible, the orders stay for the shop's books.
    deleted_at: so.Mapped[datetime | None]
    # Items on this user's wishlist, kept by the database (triggers of
    # migration 0010): the account menu shows it without counting rows.
    wishlist_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # False once the user stopped "back in stock" emails (the link in each).
    back_in_stock_emails: so.Mapped[bool] = so.mapped_column(
        default=True, server_default=sa.true()
    )

    user_items: so.Mapped[list[UserItem]] = so.relationship(
        back_populates="user", passive_deletes="all", order_by="UserItem.id"
    )
    # The second has_many :through: what this user wishes for.
    wishlist_items: so.Mapped[list[WishlistItem]] = so.relationship(
        back_populates="user", passive_deletes="all", order_by="WishlistItem.id"
    )
    wished_items: so.Mapped[list[Item]] = so.relationship(
        secondary="wishlist_items",
        primaryjoin="User.id == WishlistItem.user_id",
        secondaryjoin="Item.id == WishlistItem.item_id",
        viewonly=True,
        order_by="Item.name",
    )
    reviews: so.Mapped[list[Review]] = so.relationship(
        back_populates="user", passive_deletes="all", order_by="Review.id"
    )
    # What this user bought, through the lines that still count as purchases
    # (not those of cancelled or fully refunded orders).
    items: so.Mapped[list[Item]] = so.relationship(
        secondary="user_items",
        primaryjoin="User.id == UserItem.user_id",
        secondaryjoin="and_(Item.id == UserItem.item_id, UserItem.counted)",
        viewonly=True,
        order_by="Item.name",
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Flask-Login's cookie identity: the id plus the current session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    def end_sessions(self) -> None:
        """Make every cookie issued for this user useless (logout, disabling)."""
        self.session_token = secrets.token_hex(16)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Item(TimestampMixin, db.Model):
    """Something the store sells; archived items are hidden but kept for history."""

    __tablename__ = "items"
    __table_args__ = (
        sa.CheckConstraint("price_cents >= 0", name="price_cents_not_negative"),
        sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
        sa.CheckConstraint(
            f"length(name) BETWEEN 1 AND {ITEM_NAME_MAX}", name="name_length"
        ),
        # The catalogue lists live items only: partial indexes serve its three
        # orders without sorting and stay small as archived items pile up.
        sa.Index("ix_items_live_name", "name", "id", **LIVE),
        sa.Index("ix_items_live_price", "price_cents", "id", **LIVE),
        sa.Index("ix_items_live_newest", "created_at", "id", **LIVE),
        sa.Index("ix_items_live_stock", "stock", **LIVE),
        # The catalogue's counts per category, from the index alone (SQLite
        # counts a partial index as covering only if it holds archived_at too).
        sa.Index(
            "ix_items_live_category",
            "category_id",
            "price_cents",
            "stock",
            "archived_at",
            **LIVE,
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(ITEM_NAME_MAX), index=True)
    description: so.Mapped[str] = so.mapped_column(
        sa.Text, default="", server_default=""
    )
    price_cents: so.Mapped[int]
    stock: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    archived_at: so.Mapped[datetime | None]
    # NO ACTION: a category that has items cannot be deleted.
    category_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("categories.id")
    )
    # The item's sales, kept by the database (triggers of migration 0006) as
    # purchase lines are written: read them, never set them.
    sales_lines: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    units_sold: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    revenue_cents: so.Mapped[int] = so.mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )
    customers: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # The visible reviews' count and sum of ratings, kept by the database
    # (triggers of migration 0010) as reviews are written, edited, hidden or
    # deleted: read them, never set them. The average is their quotient.
    rating_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    rating_sum: so.Mapped[int] = so.mapped_column(default=0, server_default="0")

    user_items: so.Mapped[list[UserItem]] = so.relationship(
        back_populates="item", passive_deletes="all", order_by="UserItem.id"
    )
    wishlist_items: so.Mapped[list[WishlistItem]] = so.relationship(
        back_populates="item", passive_deletes="all", order_by="WishlistItem.id"
    )
    # Who wishes for this item (viewonly: writes go through WishlistItem).
    wishers: so.Mapped[list[User]] = so.relationship(
        secondary="wishlist_items",
        primaryjoin="Item.id == WishlistItem.item_id",
        secondaryjoin="User.id == WishlistItem.user_id",
        viewonly=True,
        order_by="User.name",
    )
    reviews: so.Mapped[list[Review]] = so.relationship(
        back_populates="item", passive_deletes="all", order_by="Review.id"
    )
    # Who bought this item, through the lines that still count as purchases.
    users: so.Mapped[list[User]] = so.relationship(
        secondary="user_items",
        primaryjoin="Item.id == UserItem.item_id",
        secondaryjoin="and_(User.id == UserItem.user_id, UserItem.counted)",
        viewonly=True,
        order_by="User.name",
    )

    category: so.Mapped[Category | None] = so.relationship(back_populates="items")
    images: so.Mapped[list[ItemImage]] = so.relationship(
        back_populates="item",
        order_by="ItemImage.position",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Item {self.id} {self.name!r}>"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def rating_average(self) -> float | None:
        """The visible reviews' mean rating, None without reviews."""
        return rating_average(self.rating_sum, self.rating_count)


def rating_average(rating_sum: int, rating_count: int) -> float | None:
    """The mean of `rating_count` ratings adding up to `rating_sum`: the one
    expression for an average, exact from the two integers the database keeps."""
    return rating_sum / rating_count if rating_count > 0 else None


class Category(TimestampMixin, db.Model):
    """A shelf of the catalogue; categories form a tree by `parent_id`.

    A trigger (migration 0011) refuses a parent that is the category itself
    or one of its descendants: no cycle can be written.
    """

    __tablename__ = "categories"
    __table_args__ = (
        sa.CheckConstraint(
            f"length(name) BETWEEN 1 AND {CATEGORY_NAME_MAX}", name="name_length"
        ),
        sa.CheckConstraint(
            f"length(slug) BETWEEN 1 AND {CATEGORY_SLUG_MAX} AND slug = lower(slug)",
            name="slug_lower_case",
        ),
        sa.CheckConstraint("parent_id <> id", name="not_own_parent"),
        sa.Index("ix_categories_parent_id_position", "parent_id", "position"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(CATEGORY_NAME_MAX))
    slug: so.Mapped[str] = so.mapped_column(sa.String(CATEGORY_SLUG_MAX), unique=True)
    # NO ACTION, checked at the statement's end: one DELETE may take a whole
    # tree, none may leave a child without its parent.
    parent_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("categories.id"))
    position: so.Mapped[int] = so.mapped_column(default=0, server_default="0")

    parent: so.Mapped[Category | None] = so.relationship(
        remote_side=[id], back_populates="children"
    )
    children: so.Mapped[list[Category]] = so.relationship(
        back_populates="parent", order_by="(Category.position, Category.name)"
    )
    items: so.Mapped[list[Item]] = so.relationship(back_populates="category")

    def __repr__(self) -> str:
        return f"<Category {self.id} {self.slug}>"


class ItemImage(TimestampMixin, db.Model):
    """One picture of an item. Its files (app/media/) are named from `key`, a
    hash of the upright, metadata-free picture: one copy per width in
    `widths`, each as WebP and as JPEG. `width` and `height` are the largest
    copy's."""

    __tablename__ = "item_images"
    __table_args__ = (
        sa.UniqueConstraint("item_id", "position"),
        sa.CheckConstraint("width > 0 AND height > 0", name="size_positive"),
        sa.CheckConstraint("length(key) >= 16", name="key_length"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    item_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("items.id", ondelete="CASCADE")
    )
    position: so.Mapped[int]
    alt: so.Mapped[str] = so.mapped_column(
        sa.String(IMAGE_ALT_MAX), default="", server_default=""
    )
    width: so.Mapped[int]
    height: so.Mapped[int]
    key: so.Mapped[str] = so.mapped_column(sa.String(64))
    widths: so.Mapped[str] = so.mapped_column(sa.String(100))

    item: so.Mapped[Item] = so.relationship(back_populates="images")

    @property
    def width_list(self) -> list[int]:
        return [int(w) for w in self.widths.split()]

    def __repr__(self) -> str:
        return f"<ItemImage {self.id} of item {self.item_id}>"


FIRST_IMAGE_COLUMNS = ("key", "widths", "width", "height", "alt")


def first_image_columns(item_id: sa.ColumnElement[int] | None = None) -> list[sa.Label]:
    """An item's first picture's key, widths, size and alt as columns
    (image_key, image_widths, ...), for a card, a cart line or any list of
    items: correlated subqueries on the (item_id, position) key, evaluated for
    the rows a query returns only, in the same statement. `item_id`: the
    column naming the item (Item.id unless the rows come from a subquery)."""
    item_id = Item.id if item_id is None else item_id
    return [
        sa.select(getattr(ItemImage, name))
        .where(ItemImage.item_id == item_id)
        .order_by(ItemImage.position)
        .limit(1)
        .scalar_subquery()
        .label(f"image_{name}")
        for name in FIRST_IMAGE_COLUMNS
    ]


class StoreTotals(db.Model):
    """The store's one row of totals, kept by the database (migration 0006's
    triggers): reading the catalogue's size is a primary-key lookup."""

    __tablename__ = "store_totals"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    live_items: so.Mapped[int] = so.mapped_column(default=0, server_default="0")


class PageVersion(db.Model):
    """One shard of the page version, bumped by the database on every write
    an anonymous page shows (migration 0014; app/page_cache.py sums them)."""

    __tablename__ = "page_versions"
    __table_args__ = (sa.CheckConstraint("id >= 0 AND id < 8", name="shard"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    version: so.Mapped[int] = so.mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )


class UserItem(TimestampMixin, db.Model):
    """One purchase line: a user bought `quantity` of an item at `unit_price_cents`."""

    __tablename__ = "user_items"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint(
            "unit_price_cents >= 0", name="unit_price_cents_not_negative"
        ),
        # "This user's (or this item's) lines, newest first", with a stable tie-break.
        sa.Index("ix_user_items_user_id_created_at", "user_id", "created_at", "id"),
        sa.Index("ix_user_items_item_id_created_at", "item_id", "created_at", "id"),
        # "The latest purchases" (popular items, the admin's purchase list).
        sa.Index("ix_user_items_created_at", "created_at", "id"),
        # "Has this user bought this item before?" from the index alone: the
        # running customer count's triggers (migration 0006) ask it on every
        # line written, and a best seller's lines are not read one by one.
        sa.Index(
            "ix_user_items_item_sales",
            "item_id",
            "user_id",
            "quantity",
            "unit_price_cents",
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT")
    )
    item_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("items.id", ondelete="RESTRICT")
    )
    order_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    # The item's name when it was bought: renaming the item keeps receipts.
    # Checkout writes it; any other writer that leaves it out gets the item's
    # name at that moment.
    item_name: so.Mapped[str] = so.mapped_column(
        sa.String(ITEM_NAME_MAX), default=_current_item_name
    )
    quantity: so.Mapped[int]
    unit_price_cents: so.Mapped[int]
    # False once the line's order is cancelled or fully refunded (a trigger on
    # orders.status keeps it): the line stays in the history but no longer
    # counts as a purchase (user.items, item.users, the running totals).
    counted: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())

    user: so.Mapped[User] = so.relationship(back_populates="user_items")
    item: so.Mapped[Item] = so.relationship(back_populates="user_items")
    order: so.Mapped[Order | None] = so.relationship(back_populates="lines")

    def __repr__(self) -> str:
        return f"<UserItem {self.id} user={self.user_id} item={self.item_id} x{self.quantity}>"

    @hybrid_property
    def total_cents(self) -> int:
        """The line's money: quantity × the price paid.

        In SQL (`UserItem.total_cents`, for sums and columns) the product is
        64-bit: PostgreSQL's int4 × int4 is int4 and fails past
        $21,474,836.47, which one line of 1,000 × $22,000 passes. Every page
        and report that adds up money uses this one expression.
        """
        return self.quantity * self.unit_price_cents

    @total_cents.inplace.expression
    @classmethod
    def _total_cents_expression(cls) -> sa.ColumnElement[int]:
        return sa.cast(cls.quantity, sa.BigInteger) * cls.unit_price_cents


class Order(TimestampMixin, db.Model):
    """One checkout: the lines bought together, with the money, the address and
    the shipping method copied onto it, and its status (app/orders/)."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({sql_list(STATUSES)})", name="status"),
        sa.CheckConstraint("total_cents >= 0", name="total_cents_not_negative"),
        sa.CheckConstraint("subtotal_cents >= 0", name="subtotal_cents_not_negative"),
        sa.CheckConstraint("shipping_cents >= 0", name="shipping_cents_not_negative"),
        sa.CheckConstraint("tax_cents >= 0", name="tax_cents_not_negative"),
        sa.CheckConstraint(
            "total_cents = subtotal_cents + shipping_cents + tax_cents",
            name="total_adds_up",
        ),
        sa.CheckConstraint(
            "refunded_cents BETWEEN 0 AND total_cents", name="refund_within_total"
        ),
        # Every order's number is A-Z0-9 (at least eight of them), unique.
        sa.CheckConstraint("length(number) >= 8", name="number_length"),
        sa.Index("uq_orders_number", "number", unique=True),
        # The admin's list: every order (or one status) newest first.
        sa.Index("ix_orders_created_at", "created_at", "id"),
        sa.Index("ix_orders_status_created_at", "status", "created_at", "id"),
        # A shopper's orders, newest first.
        sa.Index("ix_orders_user_id_created_at", "user_id", "created_at", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    number: so.Mapped[str] = so.mapped_column(
        sa.String(ORDER_NUMBER_MAX), default=new_number
    )
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT")
    )
    email: so.Mapped[str] = so.mapped_column(sa.String(EMAIL_MAX))
    status: so.Mapped[str] = so.mapped_column(sa.String(20))
    # The cart's one-time token: a double-submitted checkout hits this unique key.
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    subtotal_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    shipping_cents: so.Mapped[int] = so.mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )
    tax_cents: so.Mapped[int] = so.mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )
    total_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    refunded_cents: so.Mapped[int] = so.mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )
    tax_rate_bp: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    payment_method: so.Mapped[str] = so.mapped_column(sa.String(20))
    shipping_method: so.Mapped[str] = so.mapped_column(sa.String(SHIPPING_CODE_MAX))
    shipping_method_name: so.Mapped[str] = so.mapped_column(
        sa.String(SHIPPING_NAME_MAX), default="", server_default=""
    )
    tracking_number: so.Mapped[str | None] = so.mapped_column(
        sa.String(TRACKING_NUMBER_MAX)
    )
    ship_name: so.Mapped[str] = so.mapped_column(sa.String(ADDRESS_NAME_MAX))
    ship_line1: so.Mapped[str] = so.mapped_column(sa.String(ADDRESS_LINE_MAX))
    ship_line2: so.Mapped[str] = so.mapped_column(
        sa.String(ADDRESS_LINE_MAX), default="", server_default=""
    )
    ship_city: so.Mapped[str] = so.mapped_column(sa.String(ADDRESS_CITY_MAX))
    ship_postcode: so.Mapped[str] = so.mapped_column(sa.String(POSTCODE_MAX))
    ship_country: so.Mapped[str] = so.mapped_column(sa.String(2))

    user: so.Mapped[User] = so.relationship()
    lines: so.Mapped[list[UserItem]] = so.relationship(
        back_populates="order", order_by="UserItem.id"
    )
    events: so.Mapped[list[OrderEvent]] = so.relationship(
        back_populates="order", order_by="OrderEvent.id"
    )

    def __repr__(self) -> str:
        return f"<Order {self.number} {self.status}>"

    @property
    def refundable_cents(self) -> int:
        return self.total_cents - self.refunded_cents


class OrderEvent(db.Model):
    """One move of an order (or a refund), who made it and why: append-only."""

    __tablename__ = "order_events"
    __table_args__ = (
        sa.CheckConstraint(f"to_status IN ({sql_list(STATUSES)})", name="to_status"),
        sa.Index("ix_order_events_order_id", "order_id", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    order_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("orders.id", ondelete="RESTRICT")
    )
    # NULL for the placing of the order.
    from_status: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    to_status: so.Mapped[str] = so.mapped_column(sa.String(20))
    # NULL for the system (expiry, the command line).
    actor_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT")
    )
    note: so.Mapped[str] = so.mapped_column(sa.Text, default="", server_default="")
    created_at: so.Mapped[datetime] = so.mapped_column(
        default=utcnow, server_default=sa.func.now()
    )

    order: so.Mapped[Order] = so.relationship(back_populates="events")
    actor: so.Mapped[User | None] = so.relationship()


class ShippingMethod(TimestampMixin, db.Model):
    """A way the shop ships, at a price, free from an amount where it says so."""

    __tablename__ = "shipping_methods"
    __table_args__ = (
        sa.CheckConstraint("price_cents >= 0", name="price_cents_not_negative"),
        sa.CheckConstraint(
            "free_over_cents IS NULL OR free_over_cents >= 0",
            name="free_over_cents_not_negative",
        ),
        sa.CheckConstraint("length(code) >= 1", name="code_not_empty"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(SHIPPING_CODE_MAX), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(SHIPPING_NAME_MAX))
    price_cents: so.Mapped[int]
    free_over_cents: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    position: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    is_active: so.Mapped[bool] = so.mapped_column(
        default=True, server_default=sa.true()
    )

    def price_for(self, subtotal_cents: int) -> int:
        """What this method costs for an order of `subtotal_cents`."""
        if self.free_over_cents is not None and subtotal_cents >= self.free_over_cents:
            return 0
        return self.price_cents


class ShopSettings(TimestampMixin, db.Model):
    """The shop's one row of settings: the tax rate and the bank details."""

    __tablename__ = "shop_settings"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="one_row"),
        sa.CheckConstraint(
            f"tax_rate_bp BETWEEN 0 AND {TAX_RATE_MAX_BP}", name="tax_rate_bp_range"
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # Basis points on the subtotal: 825 is 8.25 %.
    tax_rate_bp: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    bank_transfer_details: so.Mapped[str] = so.mapped_column(
        sa.Text, default="", server_default=""
    )


class Address(TimestampMixin, db.Model):
    """A signed-in shopper's saved shipping address, offered at checkout."""

    __tablename__ = "addresses"
    __table_args__ = (sa.Index("ix_addresses_user_id", "user_id", "id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT")
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(ADDRESS_NAME_MAX))
    line1: so.Mapped[str] = so.mapped_column(sa.String(ADDRESS_LINE_MAX))
    line2: so.Mapped[str] = so.mapped_column(
        sa.String(ADDRESS_LINE_MAX), default="", server_default=""
    )
    city: so.Mapped[str] = so.mapped_column(sa.String(ADDRESS_CITY_MAX))
    postcode: so.Mapped[str] = so.mapped_column(sa.String(POSTCODE_MAX))
    country: so.Mapped[str] = so.mapped_column(sa.String(2))

    def one_line(self) -> str:
        parts = (self.name, self.line1, self.line2, self.city, self.postcode)
        return ", ".join(part for part in (*parts, self.country) if part)


class AuditEvent(TimestampMixin, db.Model):
    """One admin change (app/audit/events.py), written in the change's own transaction.

    Append-only: the app has no route that edits or deletes one, and on
    PostgreSQL a trigger (migration 0004) refuses UPDATE and DELETE.
    `changes` is JSON text: {"before": {...}, "after": {...}} holding only the
    fields that changed (prices as integer `price_cents`). `actor_id` is NULL
    for changes made from the command line.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.CheckConstraint(
            "subject_type IN ('item', 'user', 'shipping', 'settings', 'page')",
            name="subject_type",
        ),
        # "This item's (or user's) history", "everything", "every <action>":
        # each newest first, with a stable tie-break.
        sa.Index(
            "ix_audit_events_subject", "subject_type", "subject_id", "created_at", "id"
        ),
        sa.Index("ix_audit_events_created_at", "created_at", "id"),
        sa.Index("ix_audit_events_action", "action", "created_at", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    actor_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    action: so.Mapped[str] = so.mapped_column(sa.String(40))
    subject_type: so.Mapped[str] = so.mapped_column(sa.String(20))
    subject_id: so.Mapped[int]
    changes: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    # The request (or command) that made the change: its log lines say more.
    request_id: so.Mapped[str | None] = so.mapped_column(
        sa.String(64), default=current_request_id
    )

    actor: so.Mapped[User | None] = so.relationship()

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.subject_type}:{self.subject_id}>"


class ItemImport(TimestampMixin, db.Model):
    """A checked CSV upload waiting for its admin to press Apply (app/items/csv_io.py).

    Only files without problems are kept, under a random token; applying
    deletes the row in the same transaction, and rows older than a day are
    purged when the next file is uploaded.
    """

    __tablename__ = "item_imports"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    actor_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    filename: so.Mapped[str] = so.mapped_column(sa.String(255), default="")
    content: so.Mapped[str] = so.mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"<ItemImport {self.id} by {self.actor_id} {self.filename!r}>"


class OutboxMessage(TimestampMixin, db.Model):
    """One email to send (app/mail/outbox.py), written in the same transaction
    as what caused it and sent by `flask outbox run`.

    `dedupe_key` is unique: the same event cannot queue its email twice. A
    worker claims a row by writing its name and a lease (`claimed_by`,
    `claimed_until`) in one conditional UPDATE; a row whose lease ran out
    (its worker died) can be claimed again. The status stays `pending` until
    the send succeeds (`sent`) or the tries run out (`failed`).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({sql_list(KINDS)})", name="kind"),
        sa.CheckConstraint(f"status IN ({sql_list(OUTBOX_STATUSES)})", name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The worker's claim: pending rows in the order they fall due.
        sa.Index(
            "ix_outbox_due",
            "next_attempt_at",
            "id",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
        # The admin's list: one status, newest first.
        sa.Index("ix_outbox_status_created_at", "status", "created_at", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    recipient: so.Mapped[str] = so.mapped_column(sa.String(EMAIL_MAX))
    subject: so.Mapped[str] = so.mapped_column(sa.String(200))
    body_text: so.Mapped[str] = so.mapped_column(sa.Text)
    body_html: so.Mapped[str] = so.mapped_column(sa.Text, default="", server_default="")
    dedupe_key: so.Mapped[str] = so.mapped_column(sa.String(200), unique=True)
    status: so.Mapped[str] = so.mapped_column(
        sa.String(10), default=PENDING, server_default=PENDING
    )
    attempts: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(
        default=utcnow, server_default=sa.func.now()
    )
    claimed_by: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    claimed_until: so.Mapped[datetime | None]
    sent_at: so.Mapped[datetime | None]
    # The email's List-Unsubscribe address (RFC 8058 one-click), for the
    # kinds a user can stop (back in stock); NULL for the others.
    list_unsubscribe: so.Mapped[str | None] = so.mapped_column(sa.String(500))

    # The request (or command) that wrote the email.
    request_id: so.Mapped[str | None] = so.mapped_column(
        sa.String(64), default=current_request_id
    )

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"


class Payment(TimestampMixin, db.Model):
    """An order's card payment at the provider: one PaymentIntent per order,
    created once and reused by every retry (app/orders/payments.py).

    `order_id` and `intent_id` are unique: a retry or a racing second tab finds
    the row instead of creating a second intent. `status` is the intent's
    status as the store last saw it; `last_error` what the provider (or its
    silence) said last.
    """

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_cents_positive"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    order_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("orders.id", ondelete="RESTRICT"), unique=True
    )
    provider: so.Mapped[str] = so.mapped_column(sa.String(20))
    intent_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    amount_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    status: so.Mapped[str] = so.mapped_column(sa.String(40))
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)

    order: so.Mapped[Order] = so.relationship()

    def __repr__(self) -> str:
        return f"<Payment {self.intent_id} {self.status}>"


class PaymentEvent(TimestampMixin, db.Model):
    """One webhook event from the provider, recorded once (`event_id` unique)
    with what it did: a replayed event hits the key and changes nothing."""

    __tablename__ = "payment_events"
    __table_args__ = (sa.Index("ix_payment_events_order_id", "order_id", "id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    event_id: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    type: so.Mapped[str] = so.mapped_column(sa.String(100))
    intent_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    order_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("orders.id", ondelete="RESTRICT")
    )
    outcome: so.Mapped[str] = so.mapped_column(sa.String(200))

    def __repr__(self) -> str:
        return f"<PaymentEvent {self.event_id} {self.type}>"


class Review(TimestampMixin, db.Model):
    """A buyer's rating (1–5), title and text of an item, one per user and item
    (app/items/reviews.py writes it only for a buyer, in the same statement
    that checks the purchase). An admin can hide it (`hidden_at`): the item's
    running rating totals then leave it out."""

    __tablename__ = "reviews"
    __table_args__ = (
        sa.CheckConstraint(
            f"rating BETWEEN {RATING_MIN} AND {RATING_MAX}", name="rating_range"
        ),
        sa.CheckConstraint(
            f"length(title) BETWEEN 1 AND {REVIEW_TITLE_MAX}", name="title_length"
        ),
        sa.CheckConstraint(
            f"length(body) BETWEEN 1 AND {REVIEW_BODY_MAX}", name="body_length"
        ),
        sa.UniqueConstraint("user_id", "item_id", name="uq_reviews_user_id_item_id"),
        # The item page: an item's visible reviews, newest first.
        sa.Index("ix_reviews_item_id_created_at", "item_id", "created_at", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="RESTRICT")
    )
    item_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("items.id", ondelete="RESTRICT")
    )
    rating: so.Mapped[int]
    title: so.Mapped[str] = so.mapped_column(sa.String(REVIEW_TITLE_MAX))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    hidden_at: so.Mapped[datetime | None]

    user: so.Mapped[User] = so.relationship(back_populates="reviews")
    item: so.Mapped[Item] = so.relationship(back_populates="reviews")

    def __repr__(self) -> str:
        return (
            f"<Review {self.id} user={self.user_id} item={self.item_id} {self.rating}>"
        )


class WishlistItem(TimestampMixin, db.Model):
    """An item a user wishes for: the second has_many :through between users
    and items. Its item coming back in stock emails the user (Restock)."""

    __tablename__ = "wishlist_items"
    __table_args__ = (
        sa.UniqueConstraint(
            "user_id", "item_id", name="uq_wishlist_items_user_id_item_id"
        ),
        # "Who wishes for this item?" when it comes back in stock.
        sa.Index("ix_wishlist_items_item_id", "item_id", "user_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE")
    )
    item_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("items.id", ondelete="CASCADE")
    )

    user: so.Mapped[User] = so.relationship(back_populates="wishlist_items")
    item: so.Mapped[Item] = so.relationship(back_populates="wishlist_items")

    def __repr__(self) -> str:
        return f"<WishlistItem {self.id} user={self.user_id} item={self.item_id}>"


class Restock(TimestampMixin, db.Model):
    """An item's stock went from 0 to more, by whatever path (the item form, a
    CSV import, a cancellation's restock, a fix in psql): a trigger on items
    (migration 0010) writes this row in that change's own transaction. The
    outbox worker turns it into one "back in stock" email per wisher
    (app/mail/restocks.py), each named by this row's id, and sets
    `notified_at`."""

    __tablename__ = "restocks"
    __table_args__ = (
        # The worker's look-up: restocks not yet turned into emails.
        sa.Index(
            "ix_restocks_pending",
            "id",
            sqlite_where=sa.text("notified_at IS NULL"),
            postgresql_where=sa.text("notified_at IS NULL"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    item_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("items.id", ondelete="CASCADE"), index=True
    )
    # The stock it came back with.
    stock: so.Mapped[int]
    notified_at: so.Mapped[datetime | None]


class ContentPage(TimestampMixin, db.Model):
    """One of the shop's own pages (About, Shipping, Returns...): a title and
    a plain-text body an admin edits; the slugs are fixed (app/content.py)."""

    __tablename__ = "content_pages"
    __table_args__ = (
        sa.CheckConstraint("length(slug) >= 1", name="slug_not_empty"),
        sa.CheckConstraint("length(title) >= 1", name="title_not_empty"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(PAGE_TITLE_MAX))
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="", server_default="")
