"""An item's pictures, from its admin edit page: add, move, delete.

An upload is checked and made into its served copies (app/media/images.py)
before anything is written: a refused file leaves no row and no file. The
files are written, then the row; the files of a deleted row go once no
other row names them (the same picture on two items shares its files).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_wtf import FlaskForm

from app.audit import events as audit
from app.auth import admin_required
from app.database import begin_write
from app.extensions import db
from app.items import bp
from app.items.admin import render_edit_page
from app.items.forms import ImageForm, ItemForm
from app.limits import IMAGES_PER_ITEM_MAX
from app.media.images import ImageRefused, keys_of, process
from app.media.storage import storage
from app.models import Item, ItemImage


@bp.post("/<int:item_id>/images")
@admin_required
def add_image(item_id: int):
    """Add a picture (multipart `image`, `alt`) at the end of the item's pictures."""
    item = db.get_or_404(Item, item_id)
    form = ImageForm()
    if form.validate_on_submit():
        upload = request.files.get("image")
        try:
            if len(item.images) >= IMAGES_PER_ITEM_MAX:
                raise ImageRefused(
                    f"An item has {IMAGES_PER_ITEM_MAX} pictures at most: "
                    "delete one first."
                )
            if upload is None or not upload.filename:
                raise ImageRefused("Choose a picture to upload.")
            processed = process(upload.read())
        except ImageRefused as refused:
            form.image.errors = [str(refused)]
        else:
            files = storage()
            for key, data in processed.files.items():
                files.save(key, data)
            begin_write()
            next_position = sa.select(
                sa.func.coalesce(sa.func.max(ItemImage.position) + 1, 0)
            ).where(ItemImage.item_id == item_id)
            image = ItemImage(
                item_id=item_id,
                position=next_position.scalar_subquery(),
                alt=form.alt.data or "",
                width=processed.width,
                height=processed.height,
                key=processed.key,
                widths=" ".join(str(w) for w in processed.widths),
            )
            db.session.add(image)
            try:
                db.session.flush()
                audit.record(
                    "item.image_add",
                    item_id,
                    {},
                    {"image_id": image.id, "key": image.key, "alt": image.alt},
                )
                db.session.commit()
            except sa.exc.IntegrityError:  # a racing upload took the position
                db.session.rollback()
                _forget_files(processed.key, processed.widths)
                form.image.errors = ["Another picture was added meanwhile: try again."]
            else:
                flash("Added the picture.", "success")
                return redirect(url_for("items.edit", item_id=item_id) + "#pictures")
    item_form = ItemForm(obj=item, price=item.price_cents, stock_seen=item.stock)
    return render_edit_page(item_form, item, image_form=form, status=422)


@bp.post("/<int:item_id>/images/<int:image_id>/delete")
@admin_required
def delete_image(item_id: int, image_id: int):
    """Remove one picture; its files go when no other picture uses them."""
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("items.edit", item_id=item_id))
    begin_write()
    deleted = db.session.execute(
        sa.delete(ItemImage)
        .where(ItemImage.id == image_id, ItemImage.item_id == item_id)
        .returning(ItemImage.key, ItemImage.widths)
    ).one_or_none()
    if deleted is None:  # no such picture of this item
        db.session.rollback()
        abort(404)
    audit.record(
        "item.image_delete", item_id, {"image_id": image_id, "key": deleted.key}, {}
    )
    db.session.commit()
    _forget_files(deleted.key, [int(w) for w in deleted.widths.split()])
    flash("Deleted the picture.", "success")
    return redirect(url_for("items.edit", item_id=item_id) + "#pictures")


@bp.post("/<int:item_id>/images/<int:image_id>/move")
@admin_required
def move_image(item_id: int, image_id: int):
    """Swap a picture with its neighbour (`direction` up or down); the first
    picture is the one catalogue cards show."""
    direction = request.form.get("direction")
    if not FlaskForm().validate_on_submit() or direction not in ("up", "down"):
        abort(400)
    begin_write()
    image = db.session.scalar(
        sa.select(ItemImage)
        .where(ItemImage.id == image_id, ItemImage.item_id == item_id)
        .with_for_update()
    )
    if image is None:
        db.session.rollback()
        abort(404)
    here = image.position
    closer = (
        ItemImage.position < here if direction == "up" else ItemImage.position > here
    )
    order = ItemImage.position.desc() if direction == "up" else ItemImage.position
    other = db.session.scalar(
        sa.select(ItemImage)
        .where(ItemImage.item_id == item_id, closer)
        .order_by(order)
        .limit(1)
        .with_for_update()
    )
    if other is not None:
        there = other.position
        # (item_id, position) is unique and checked row by row: park one first.
        for target, position in ((image, -1 - here), (other, here), (image, there)):
            db.session.execute(
                sa.update(ItemImage)
                .where(ItemImage.id == target.id)
                .values(position=position)
            )
        audit.record(
            "item.image_move",
            item_id,
            {"image_id": image_id, "position": here},
            {"image_id": image_id, "position": there},
        )
        db.session.commit()
    else:
        db.session.rollback()
    return redirect(url_for("items.edit", item_id=item_id) + "#pictures")


def _forget_files(key: str, widths: list[int]) -> None:
    """Delete an image's files unless another row still names them."""
    if db.session.scalar(sa.select(ItemImage.id).where(ItemImage.key == key).limit(1)):
        return
    files = storage()
    for name in keys_of(key, widths):
        files.delete(name)
