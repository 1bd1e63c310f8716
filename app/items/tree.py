"""The category tree: a parent id per category, walked by recursive CTEs.

`subtree(category_id)` is the category and everything under it, with the
branch (the child of the starting point) each one falls under: the
catalogue filters by it and counts by branch in one statement. `ancestors`
gives the breadcrumbs. The whole tree, for the admin's page and the item
form's select, is one plain SELECT ordered in Python (it has hundreds of
rows at most: CATEGORIES_MAX).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.limits import CATEGORY_SLUG_MAX
from app.models import Category


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    slug: str
    parent_id: int | None
    position: int
    depth: int


def subtree(top: int | None) -> sa.CTE:
    """Rows (id, branch): under category `top`, `top` itself with branch NULL
    and each descendant with the child of `top` it descends from; with `top`
    None, every category with its top-level ancestor as branch."""
    categories = Category.__table__
    if top is None:
        start = sa.select(categories.c.id, categories.c.id.label("branch")).where(
            categories.c.parent_id.is_(None)
        )
    else:
        start = sa.select(
            categories.c.id, sa.cast(sa.null(), sa.Integer).label("branch")
        ).where(categories.c.id == top)
    tree = start.cte("subtree", recursive=True)
    step = sa.select(
        categories.c.id, sa.func.coalesce(tree.c.branch, categories.c.id)
    ).join(tree, categories.c.parent_id == tree.c.id)
    return tree.union_all(step)


def ancestors(slug: str | None = None, category_id: int | None = None) -> list[Node]:
    """The category of `slug` (or id) and its ancestors, the root first ([] if
    unknown)."""
    categories = Category.__table__
    if slug is not None:
        where = categories.c.slug == slug
    else:
        where = categories.c.id == category_id
    start = sa.select(
        categories.c.id,
        categories.c.name,
        categories.c.slug,
        categories.c.parent_id,
        categories.c.position,
        sa.literal(0).label("depth"),
    ).where(where)
    up = start.cte("up", recursive=True)
    step = sa.select(
        categories.c.id,
        categories.c.name,
        categories.c.slug,
        categories.c.parent_id,
        categories.c.position,
        up.c.depth + 1,
    ).join(up, categories.c.id == up.c.parent_id)
    up = up.union_all(step)
    rows = db.session.execute(sa.select(up).order_by(up.c.depth.desc())).all()
    return [Node(*row) for row in rows]


def is_descendant_or_self(candidate: int, of: int) -> bool:
    """Whether `candidate` is `of` or lies under it (a move that would loop)."""
    tree = subtree(of)
    return (
        db.session.scalar(sa.select(tree.c.id).where(tree.c.id == candidate))
        is not None
    )


def whole_tree() -> list[Node]:
    """Every category in tree order (parents before children, by position, name)."""
    rows = db.session.execute(
        sa.select(
            Category.id,
            Category.name,
            Category.slug,
            Category.parent_id,
            Category.position,
        )
    ).all()
    children: dict[int | None, list] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[Node] = []

    def walk(parent: int | None, depth: int) -> None:
        for row in sorted(children.get(parent, []), key=lambda r: (r.position, r.name)):
            ordered.append(Node(*row, depth=depth))
            walk(row.id, depth + 1)

    walk(None, 0)
    return ordered


def slugify(name: str) -> str:
    """`Kitchen & Dining` -> `kitchen-dining`: ASCII letters and digits, hyphens."""
    ascii_text = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[: CATEGORY_SLUG_MAX - 4].strip("-") or "category"


def free_slug(base: str) -> str:
    """`base`, or `base-2`, `base-3`… the first that no category has."""
    taken = set(
        db.session.scalars(
            sa.select(Category.slug).where(
                sa.or_(
                    Category.slug == base,
                    Category.slug.like(base.replace("_", "\\_") + "-%", escape="\\"),
                )
            )
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
