"""The admin's category tree at /items/categories/: add, move."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for

from app.auth import admin_required
from app.database import begin_write
from app.extensions import db
from app.items import bp
from app.items.forms import CategoryForm, CategoryMoveForm, category_choices
from app.items.tree import free_slug, is_descendant_or_self, slugify, whole_tree
from app.limits import CATEGORIES_MAX
from app.models import Category, Item

CYCLE = "“{name}” cannot go inside itself or one of its own subcategories."


@bp.route("/categories/", methods=["GET", "POST"])
@admin_required
def categories():
    """The tree with each category's live items, and the form that adds one."""
    nodes = whole_tree()
    form = CategoryForm()
    form.parent_id.choices = category_choices(nodes, "Top level")
    if form.validate_on_submit():
        parent_id = int(form.parent_id.data) if form.parent_id.data else None
        if len(nodes) >= CATEGORIES_MAX:
            form.name.errors.append(
                f"The store has {CATEGORIES_MAX} categories already."
            )
        else:
            begin_write()
            slug = form.slug.data or slugify(form.name.data)
            slug = free_slug(slug)
            category = Category(
                name=form.name.data,
                slug=slug,
                parent_id=parent_id,
                position=len([n for n in nodes if n.parent_id == parent_id]),
            )
            db.session.add(category)
            try:
                db.session.commit()
            except sa.exc.IntegrityError:  # a racing add took the slug
                db.session.rollback()
                form.slug.errors.append(
                    f"The slug “{slug}” was just taken: save again for another."
                )
            else:
                flash(f"Added the category “{category.name}” ({slug}).", "success")
                return redirect(url_for("items.categories"))
    counts = dict(
        db.session.execute(
            sa.select(Item.category_id, sa.func.count())
            .where(Item.archived_at.is_(None), Item.category_id.is_not(None))
            .group_by(Item.category_id)
        ).all()
    )
    status = 422 if form.is_submitted() else 200
    return render_template(
        "items/categories.html",
        nodes=nodes,
        counts=counts,
        form=form,
        move_form=CategoryMoveForm(),
        choices=form.parent_id.choices,
    ), status


@bp.post("/categories/<int:category_id>/move")
@admin_required
def move_category(category_id: int):
    """Put a category under another, refusing any move that would make a loop."""
    category = db.get_or_404(Category, category_id)
    form = CategoryMoveForm()
    form.parent_id.choices = category_choices(whole_tree(), "Top level")
    if not form.validate_on_submit():
        flash("Choose where to move the category.", "error")
        return redirect(url_for("items.categories"))
    parent_id = int(form.parent_id.data) if form.parent_id.data else None
    name = category.name
    if parent_id is not None and is_descendant_or_self(parent_id, category_id):
        flash(CYCLE.format(name=name), "error")
        return redirect(url_for("items.categories"))
    begin_write()
    try:
        db.session.execute(
            sa.update(Category)
            .where(Category.id == category_id)
            .values(parent_id=parent_id)
        )
        db.session.commit()
    except sa.exc.IntegrityError:  # the trigger: a racing move made this one a loop
        db.session.rollback()
        flash(CYCLE.format(name=name), "error")
        return redirect(url_for("items.categories"))
    flash(f"Moved “{name}”.", "success")
    return redirect(url_for("items.categories"))
