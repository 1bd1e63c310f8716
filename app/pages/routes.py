"""/pages/<slug>: the shop's own pages, and the admin's forms that edit them."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for

from app.audit import events as audit
from app.auth import admin_required
from app.content import PAGES, render_body, summary
from app.database import begin_write
from app.extensions import db
from app.models import ContentPage
from app.pages import bp
from app.pages.forms import ContentPageForm


def _page_or_404(slug: str) -> ContentPage:
    if slug not in PAGES:
        abort(404)
    page = db.session.scalar(sa.select(ContentPage).where(ContentPage.slug == slug))
    if page is None:
        abort(404)
    return page


def _values(page: ContentPage) -> dict[str, str]:
    return {"title": page.title, "body": page.body}


@bp.get("/<slug>")
def show(slug: str):
    """A content page: its title and its text, shaped into paragraphs."""
    page = _page_or_404(slug)
    return render_template(
        "pages/show.html",
        page=page,
        body=render_body(page.body),
        description=summary(page.body),
    )


@bp.get("/")
@admin_required
def index():
    """The shop's pages, each with when it was last edited."""
    pages = db.session.scalars(sa.select(ContentPage)).all()
    order = list(PAGES)
    pages = sorted(
        (p for p in pages if p.slug in PAGES), key=lambda p: order.index(p.slug)
    )
    return render_template("pages/index.html", pages=pages)


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit(slug: str):
    """Edit a page's title and text; the change is audited."""
    page = _page_or_404(slug)
    form = ContentPageForm(obj=page)
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("pages/edit.html", page=page, form=form), status
    begin_write()
    page = _page_or_404(slug)
    before = _values(page)
    page.title = form.title.data
    page.body = form.body.data
    if audit.record("page.update", page.id, before, _values(page)) is None:
        db.session.rollback()
        flash(f"Nothing changed on “{page.title}”.", "info")
    else:
        db.session.commit()
        flash(f"Saved “{page.title}”.", "success")
    return redirect(url_for("pages.show", slug=slug))
