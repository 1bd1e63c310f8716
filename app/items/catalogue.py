"""The catalogue's filters, search and category counts.

`Filters.from_request()` reads `?category=`, `min_price`, `max_price`,
`in_stock`, `q`: an unknown category is a 404, a malformed price is left
out with a note for the page. `conditions()` are the WHERE clauses of the
page's query; `branch_counts()` counts the matching live items under each
child category of the current one (or each top-level category), the other
filters applied, in one statement over the recursive CTE of the subtree,
answered from the (category_id, price_cents, stock) index.

Search (`text_matches`) finds words in any order, by their stems, in names
and descriptions: SQLite's FTS5 table items_words (porter stemmer) or
PostgreSQL's english tsvector index, each word a prefix; or a substring
of the name, through 0002's trigram indexes. `close_names` is PostgreSQL's
answer to a typo: names whose words are most like the query's (pg_trgm).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import abort, current_app, request

from app.caching import remembered
from app.extensions import db
from app.items.tree import Node, ancestors, subtree
from app.limits import CATEGORY_SLUG_MAX
from app.models import Category, Item
from app.money import cents_to_decimal_text, parse_amount
from app.search import contains, search_text

WORD_RE = re.compile(r"\w+")
SLUG_RE = re.compile(rf"[a-z0-9-]{{1,{CATEGORY_SLUG_MAX}}}", re.ASCII)
MAX_WORDS = 8
TYPO_SIMILARITY = 0.4  # pg_trgm word similarity a close name reaches
TSVECTOR = sa.func.to_tsvector(
    sa.literal_column("'english'::regconfig"),
    Item.name.op("||")(sa.literal_column("' '")).op("||")(Item.description),
)


@dataclass
class Filters:
    q: str = ""
    category: Node | None = None
    trail: list[Node] = field(default_factory=list)  # breadcrumbs, root first
    min_cents: int | None = None
    max_cents: int | None = None
    in_stock: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls) -> Filters:
        filters = cls(q=search_text())
        slug = request.args.get("category", "").strip().lower()
        if slug:
            if not SLUG_RE.fullmatch(slug):  # no category has such a slug
                abort(404)
            filters.trail = ancestors(slug=slug)
            if not filters.trail:
                abort(404)
            filters.category = filters.trail[-1]
        filters.min_cents = _price_arg("min_price", "minimum", filters.notes)
        filters.max_cents = _price_arg("max_price", "maximum", filters.notes)
        if (
            filters.min_cents is not None
            and filters.max_cents is not None
            and filters.min_cents > filters.max_cents
        ):
            filters.notes.append(
                "The minimum price was above the maximum: they were swapped."
            )
            filters.min_cents, filters.max_cents = filters.max_cents, filters.min_cents
        filters.in_stock = request.args.get("in_stock") == "1"
        return filters

    @property
    def narrowed(self) -> bool:
        """Whether anything but the search text narrows the list."""
        return (
            self.category is not None
            or self.min_cents is not None
            or self.max_cents is not None
            or self.in_stock
        )

    def conditions(self, with_category: bool = True) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = [Item.archived_at.is_(None)]
        if self.q:
            where.append(text_matches(self.q))
        if self.min_cents is not None:
            where.append(Item.price_cents >= self.min_cents)
        if self.max_cents is not None:
            where.append(Item.price_cents <= self.max_cents)
        if self.in_stock:
            where.append(Item.stock > 0)
        if with_category and self.category is not None:
            tree = subtree(self.category.id)
            where.append(Item.category_id.in_(sa.select(tree.c.id)))
        return where

    def args(self) -> dict[str, str | None]:
        """The query-string arguments that keep these filters (None: left out)."""
        return {
            "q": self.q or None,
            "category": self.category.slug if self.category else None,
            "min_price": _text(self.min_cents),
            "max_price": _text(self.max_cents),
            "in_stock": "1" if self.in_stock else None,
        }

    def cache_key(self) -> str:
        raw = repr(sorted(self.args().items(), key=lambda kv: kv[0]))
        return (
            "category-counts:"
            + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()
        )


def _text(cents: int | None) -> str | None:
    return None if cents is None else cents_to_decimal_text(cents)


def _price_arg(name: str, label: str, notes: list[str]) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_amount(text[:40])
    except ValueError:
        notes.append(
            f"The {label} price “{text[:40]}” was ignored: use an amount like 12.50."
        )
        return None


def words_of(q: str) -> list[str]:
    return WORD_RE.findall(q.lower())[:MAX_WORDS]


def text_matches(q: str) -> sa.ColumnElement[bool]:
    """Live items whose words match every word of `q` (by stem, in the name or
    the description), or whose name contains `q` as typed."""
    words = words_of(q)
    substring = _name_contains(q)
    if not words:
        return substring
    if db.engine.dialect.name == "sqlite":
        expression = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
        matches = (
            sa.select(sa.literal_column("rowid"))
            .select_from(sa.table("items_words"))
            .where(sa.text("items_words MATCH :words").bindparams(words=expression))
        )
        return sa.or_(sa.literal_column("+items.id").in_(matches), substring)
    query = " & ".join(f"{w}:*" for w in words)
    tsquery = sa.func.to_tsquery(sa.literal_column("'english'::regconfig"), query)
    # The name's test first: a name that contains `q` is a match without
    # working out its description's words.
    return sa.or_(substring, TSVECTOR.op("@@")(tsquery))


def matches_first(q: str) -> bool:
    """Whether the page's keys should be found among the matches (all of
    them, from the indexes, then sorted), not by walking the order's index
    and testing each entry. On PostgreSQL, for a search of three characters
    or more (a trigram's length): the words' and the trigrams' GIN indexes
    give the matches at once (a BitmapOr), while a walk reads the whole
    catalogue for a rare word or one whose matches lie late in the order,
    as the planner cannot know where in the order they lie."""
    return len(q) >= 3 and db.engine.dialect.name == "postgresql"


def _name_contains(q: str) -> sa.ColumnElement[bool]:
    """The name contains `q`: SQLite's trigram FTS table (three characters
    or more), else LIKE; PostgreSQL's pg_trgm index serves ILIKE."""
    if len(q) >= 3 and db.engine.dialect.name == "sqlite":
        phrase = '"' + q.replace('"', '""') + '"'
        matches = (
            sa.select(sa.literal_column("rowid"))
            .select_from(sa.table("items_search"))
            .where(sa.text("items_search MATCH :phrase").bindparams(phrase=phrase))
        )
        return sa.literal_column("+items.id").in_(matches)
    return contains(Item.name, q)


def close_names(q: str, limit: int = 6) -> list[sa.Row]:
    """PostgreSQL: live items whose name's words are most like `q` (a typo's
    fix), through the trigram index. SQLite has no such index: none."""
    if db.engine.dialect.name != "postgresql" or len(q) < 3:
        return []
    similarity = sa.func.word_similarity(q, Item.name)
    # `<%`'s bar (0.6 by default) misses a swapped pair of letters in a short
    # word ("kettel"): lowered for this transaction only.
    db.session.execute(
        sa.text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
        {"t": str(TYPO_SIMILARITY)},
    )
    return db.session.execute(
        sa.select(Item.id, Item.name, Item.price_cents, Item.stock)
        .where(Item.archived_at.is_(None), sa.literal(q).op("<%")(Item.name))
        .order_by(similarity.desc(), Item.id)
        .limit(limit)
    ).all()


@dataclass(frozen=True)
class Branch:
    id: int
    name: str
    slug: str
    count: int


def branch_counts(filters: Filters) -> tuple[list[Branch], int]:
    """The child categories of the current one (top-level ones without a
    category) with their matching items, and the total of matching items
    (the current category's own, or those with no category, included).
    Remembered for CATEGORY_COUNTS_CACHE_SECONDS per set of filters."""

    def work() -> tuple[list[tuple], int]:
        top = filters.category.id if filters.category else None
        tree = subtree(top)
        # First per category, in the order of the (category_id, price_cents,
        # stock) index, which holds every column the filters read: no row
        # of the table is touched unless a search needs its text. Then the
        # few per-category counts are summed by branch.
        per_category = sa.select(
            Item.category_id.label("category_id"), sa.func.count().label("n")
        ).where(*filters.conditions(with_category=False))
        if top is not None:
            per_category = per_category.where(
                Item.category_id.in_(sa.select(tree.c.id))
            )
        per_category = per_category.group_by(Item.category_id).cte("per_category")
        counts = (
            sa.select(
                tree.c.branch.label("branch"), sa.func.sum(per_category.c.n).label("n")
            )
            .select_from(per_category)
            .join(tree, per_category.c.category_id == tree.c.id, isouter=top is None)
            .group_by(tree.c.branch)
            .cte("counts")
        )
        parent = (
            Category.parent_id.is_(None) if top is None else Category.parent_id == top
        )
        children = sa.select(
            Category.id,
            Category.name,
            Category.slug,
            Category.position,
            sa.func.coalesce(counts.c.n, 0).label("n"),
        ).join_from(Category, counts, Category.id == counts.c.branch, isouter=True)
        children = children.where(parent)
        own = sa.select(
            sa.cast(sa.null(), sa.Integer),
            sa.cast(sa.null(), sa.String),
            sa.cast(sa.null(), sa.String),
            sa.cast(sa.null(), sa.Integer),
            counts.c.n,
        ).where(counts.c.branch.is_(None))
        rows = db.session.execute(sa.union_all(children, own)).all()
        branches = sorted(
            (tuple(row) for row in rows if row[0] is not None),
            key=lambda r: (r[3], r[1]),
        )
        total = sum(row[4] for row in rows)
        return [(r[0], r[1], r[2], r[4]) for r in branches], total

    rows, total = remembered(
        filters.cache_key(), current_app.config["CATEGORY_COUNTS_CACHE_SECONDS"], work
    )
    return [Branch(*row) for row in rows], total
