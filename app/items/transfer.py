"""Admin pages for CSV: import items (/items/import), the template, the export.

An import takes two steps. Uploading checks the file and shows every row with
its problems, writing nothing. A file without problems is kept server-side in
`item_imports` under a random token (the session cookie is too small for it)
and the browser is redirected to its preview, `/items/import?token=...`.
Apply re-checks the stored file inside the write transaction and writes all
its rows or none; if the store changed since the preview (a sale, another
admin) it shows the fresh preview instead of applying.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import timedelta

import sqlalchemy as sa
from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField

from app.auth import admin_required
from app.csv_files import csv_lines, csv_response
from app.database import begin_write, gather_statistics
from app.extensions import db
from app.items import bp, csv_io
from app.models import ItemImport, utcnow

IMPORT_TTL = timedelta(days=1)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}", re.ASCII)


class ImportForm(FlaskForm):
    """The upload (field `file`, as the contract names it)."""

    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])


class ApplyImportForm(FlaskForm):
    """The preview's Apply button: which stored file, and the plan that was shown."""

    token = HiddenField()
    plan = HiddenField()


def _filename(upload) -> str:
    """The upload's name for display: no control or format characters, 255 at most."""
    name = getattr(upload, "filename", None) or "upload.csv"
    return "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")[:255]


def _pending(token: str | None, lock: bool = False) -> ItemImport | None:
    """The signed-in admin's stored file under this token, if still fresh."""
    if not token or not TOKEN_RE.fullmatch(token):
        return None
    select = sa.select(ItemImport).where(
        ItemImport.token == token,
        ItemImport.actor_id == current_user.id,
        ItemImport.created_at >= utcnow() - IMPORT_TTL,
    )
    if lock:
        select = select.with_for_update()
    return db.session.scalar(select)


def _page(checked=None, pending=None, apply_form=None, filename=None, status=200):
    return render_template(
        "items/import.html",
        upload=ImportForm(formdata=None),
        check=checked,
        pending=pending,
        apply_form=apply_form,
        filename=filename,
        max_bytes=csv_io.MAX_BYTES,
        max_rows=csv_io.MAX_ROWS,
    ), status


def _gone():
    flash(
        "That import was applied already or has expired. Upload the file again.",
        "info",
    )
    return redirect(url_for("items.import_items"))


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_items():
    """Upload a CSV of items, preview every row and its problems, then apply all or none."""
    if request.method == "POST" and "token" in request.form:
        return _apply()
    if request.method == "POST":
        return _upload()
    token = request.args.get("token")
    if token is None:
        return _page()
    pending = _pending(token)
    if pending is None:
        return _gone()
    checked = csv_io.check(pending.content)
    apply_form = ApplyImportForm(
        formdata=None, token=pending.token, plan=checked.digest
    )
    return _page(checked, pending, apply_form, pending.filename)


def _upload():
    """Check the uploaded file; keep it for Apply only when it has no problems."""
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template(
            "items/import.html",
            upload=form,
            check=None,
            max_bytes=csv_io.MAX_BYTES,
            max_rows=csv_io.MAX_ROWS,
        ), 422
    upload = form.file.data
    # One byte past the limit is enough to refuse, whatever the file's size.
    checked = csv_io.check(upload.stream.read(csv_io.MAX_BYTES + 1))
    filename = _filename(upload)
    if not checked.ok:
        return _page(checked, filename=filename, status=422)
    begin_write()
    db.session.execute(
        sa.delete(ItemImport).where(ItemImport.created_at < utcnow() - IMPORT_TTL)
    )
    pending = ItemImport(
        token=secrets.token_urlsafe(32),
        actor_id=current_user.id,
        filename=filename,
        content=checked.text,
    )
    db.session.add(pending)
    db.session.commit()
    return redirect(url_for("items.import_items", token=pending.token), 303)


def _apply():
    """Apply a previewed file: every row in one transaction, or nothing."""
    form = ApplyImportForm()
    if not form.validate_on_submit():
        abort(400)
    begin_write()
    pending = _pending(form.token.data, lock=True)
    if pending is None:
        db.session.rollback()
        return _gone()
    token, filename = pending.token, pending.filename
    checked = csv_io.check(pending.content, lock=True)
    try:
        if not checked.ok or checked.digest != form.plan.data:
            raise csv_io.Conflict("the store changed since the preview")
        applied = csv_io.apply(checked)
    except csv_io.Conflict:
        db.session.rollback()
        flash(
            "The store changed since this preview (a sale or another admin's "
            "edit), so nothing was imported. Check the preview below and apply "
            "again.",
            "warning",
        )
        return redirect(url_for("items.import_items", token=token))
    db.session.delete(pending)
    db.session.commit()
    if csv_io.needs_statistics(applied):
        gather_statistics("items")
    flash(
        f"Imported {filename}: {applied.added} added, {applied.updated} updated, "
        f"{applied.unchanged} unchanged.",
        "success",
    )
    return redirect(url_for("items.manage", sort="updated"))


def _items_csv(rows, name: str):
    """Items in the import's columns, with a BOM so spreadsheets read UTF-8."""
    return csv_response(csv_lines(csv_io.EXPORT_COLUMNS, rows, bom=True), name)


@bp.get("/import/template.csv")
@admin_required
def import_template():
    """A CSV to start an import from: the header and one example row."""
    return _items_csv(csv_io.template_rows(), "items-template")


@bp.get("/export.csv")
@admin_required
def export():
    """Every item on sale as CSV, in the import's format (it imports back as is)."""
    return _items_csv(csv_io.export_rows(), "items")
