"""Admin pages for items: add, edit, archive, restore, stock overview.

Every change is recorded in the audit trail (app/audit/events.py) in the same
transaction as the change itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for

from app.audit import events as audit
from app.auth import admin_required
from app.database import begin_write
from app.extensions import db
from app.items import bp
from app.items.forms import ImageForm, ItemForm, category_choices
from app.items.tree import whole_tree
from app.models import Item, utcnow
from app.pagination import page_arg
from app.search import contains, search_text

MANAGE_PER_PAGE = 50
MANAGE_FILTERS = {
    "all": "All",
    "active": "On sale",
    "low": "Low stock",
    "out": "Out of stock",
    "archived": "Archived",
}
MANAGE_SORTS = {
    "name": ("Name (A–Z)", (Item.name.asc(), Item.id.asc())),
    "stock": ("Stock (lowest first)", (Item.stock.asc(), Item.name.asc(), Item.id)),
    "-stock": (
        "Stock (highest first)",
        (Item.stock.desc(), Item.name.asc(), Item.id),
    ),
    "updated": ("Recently changed", (Item.updated_at.desc(), Item.id.desc())),
    "newest": ("Newest first", (Item.created_at.desc(), Item.id.desc())),
}


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    """Add an item."""
    form = ItemForm()
    del form.stock_seen  # only an edit has a stock figure to protect
    _category_select(form)
    if form.validate_on_submit():
        begin_write()
        item = Item(
            name=form.name.data,
            description=form.description.data or "",
            price_cents=form.price.data,
            stock=form.stock.data,
            category_id=_chosen_category(form),
        )
        db.session.add(item)
        db.session.flush()  # the new id, for the audit trail
        audit.record("item.create", item.id, {}, audit.item_values(item))
        db.session.commit()
        flash(f"Added “{item.name}”.", "success")
        return redirect(url_for("items.detail", item_id=item.id))
    return _render_form(form, None)


@bp.route("/<int:item_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(item_id: int):
    """Edit an item's name, description, price or stock (restocking happens here).

    Purchase lines keep the price that was paid: they are never touched. If a
    checkout changes the stock while the admin is editing, an unchanged stock
    box leaves the new figure alone, and a changed one is refused with the
    current number instead of silently overwriting the sale.
    """
    item = db.get_or_404(Item, item_id)
    form = ItemForm(
        obj=item,
        price=item.price_cents,
        stock_seen=item.stock,
    )
    _category_select(form)
    if not form.validate_on_submit():
        return render_edit_page(form, item)

    seen = form.stock_seen.data
    values = {
        "name": form.name.data,
        "description": form.description.data or "",
        "price_cents": form.price.data,
        "stock": form.stock.data,
    }
    if "category_id" in request.form:  # absent: the category stays as it is
        values["category_id"] = _chosen_category(form)
    guard = []
    if seen is not None:
        if form.stock.data == seen:
            del values["stock"]
        else:
            guard.append(Item.stock == seen)
    begin_write()
    # The row as it is now, locked until commit: the audit trail's "before".
    before = db.session.execute(
        sa.select(
            *(getattr(Item, field) for field in audit.ITEM_FIELDS), Item.category_id
        )
        .where(Item.id == item_id)
        .with_for_update()
    ).one_or_none()
    result = db.session.execute(
        sa.update(Item).where(Item.id == item_id, *guard).values(**values)
    )
    if before is None or result.rowcount != 1:
        db.session.rollback()
        item = db.get_or_404(Item, item_id)
        form.stock.errors.append(
            f"The stock changed to {item.stock} while you were editing "
            "(a sale or another admin). Check the number and save again."
        )
        form.stock_seen.data = item.stock
        return render_edit_page(form, item)
    before = before._asdict()
    audit.record("item.update", item_id, {k: before[k] for k in values}, values)
    db.session.commit()
    flash(f"Saved “{values['name']}”.", "success")
    return redirect(url_for("items.detail", item_id=item_id))


def _render_form(form: ItemForm, item: Item | None):
    status = 422 if form.is_submitted() else 200
    return render_template(
        "items/form.html", form=form, item=item, image_form=ImageForm()
    ), status


def render_edit_page(
    form: ItemForm,
    item: Item,
    image_form: ImageForm | None = None,
    status: int | None = None,
):
    """The edit page: the item's form, then its pictures and the upload form."""
    if not form.category_id.choices or len(form.category_id.choices) == 1:
        _category_select(form)
    if status is None:
        status = 422 if form.is_submitted() else 200
    return render_template(
        "items/form.html", form=form, item=item, image_form=image_form or ImageForm()
    ), status


def _category_select(form: ItemForm) -> None:
    form.category_id.choices = category_choices(whole_tree())


def _chosen_category(form: ItemForm) -> int | None:
    """The select's id (validated against its choices), or None for none."""
    return int(form.category_id.data) if form.category_id.data else None


@bp.post("/<int:item_id>/archive")
@admin_required
def archive(item_id: int):
    """Hide an item from the catalogue; its purchase history stays."""
    begin_write()
    item = db.get_or_404(Item, item_id, with_for_update=True)
    if item.is_archived:
        flash(f"“{item.name}” was already archived.", "info")
    else:
        item.archived_at = utcnow()
        audit.record(
            "item.archive",
            item.id,
            {"archived_at": None},
            {"archived_at": item.archived_at},
        )
        db.session.commit()
        flash(
            f"Archived “{item.name}”: shoppers no longer see it. "
            "Its sales history is kept.",
            "success",
        )
    return redirect(url_for("items.detail", item_id=item_id))


@bp.post("/<int:item_id>/restore")
@admin_required
def restore(item_id: int):
    """Put an archived item back in the catalogue."""
    begin_write()
    item = db.get_or_404(Item, item_id, with_for_update=True)
    if not item.is_archived:
        flash(f"“{item.name}” is not archived.", "info")
    else:
        audit.record(
            "item.restore",
            item.id,
            {"archived_at": item.archived_at},
            {"archived_at": None},
        )
        item.archived_at = None
        db.session.commit()
        flash(f"Restored “{item.name}” to the catalogue.", "success")
    return redirect(url_for("items.detail", item_id=item_id))


@bp.get("/manage")
@admin_required
def manage():
    """Stock at a glance: every item, archived too, with filters and search."""
    q = search_text()
    show = request.args.get("show", "all")
    if show not in MANAGE_FILTERS:
        show = "all"
    sort = request.args.get("sort", "name")
    if sort not in MANAGE_SORTS:
        sort = "name"
    page = page_arg()
    threshold = current_app.config["LOW_STOCK_THRESHOLD"]

    on_sale = Item.archived_at.is_(None)
    conditions = {
        "all": sa.true(),
        "active": on_sale,
        "low": sa.and_(on_sale, Item.stock <= threshold),
        "out": sa.and_(on_sale, Item.stock == 0),
        "archived": Item.archived_at.is_not(None),
    }
    search = contains(Item.name, q) if q else sa.true()
    # One query counts every tab, so the admin sees how many need restocking.
    counts = db.session.execute(
        sa.select(
            *(
                sa.func.count(sa.case((condition, 1))).label(name)
                for name, condition in conditions.items()
            )
        ).where(search)
    ).one()
    items = db.paginate(
        sa.select(Item)
        .where(search, conditions[show])
        .order_by(*MANAGE_SORTS[sort][1]),
        page=page,
        per_page=MANAGE_PER_PAGE,
        max_per_page=None,
    )
    return render_template(
        "items/manage.html",
        items=items,
        counts=counts._asdict(),
        q=q,
        show=show,
        sort=sort,
        filters=MANAGE_FILTERS,
        sorts={key: label for key, (label, _) in MANAGE_SORTS.items()},
        threshold=threshold,
    )
