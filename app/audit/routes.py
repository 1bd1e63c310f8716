"""The audit trail for admins (/audit/): every recorded change, newest first.

Read-only by design: this blueprint has GET routes only, and no route in the
app updates or deletes an audit event (tests/test_audit.py walks the URL map).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import render_template, request

from app.audit import bp
from app.audit.events import ACTIONS, SUBJECT_TYPES
from app.auth import admin_required
from app.extensions import db
from app.models import AuditEvent, ContentPage, Item, ShippingMethod, User
from app.money import money
from app.orders.pricing import format_rate
from app.pagination import id_arg, page_arg

PER_PAGE = 50
FIELD_LABELS = {
    "name": "name",
    "description": "description",
    "price_cents": "price",
    "stock": "stock",
    "archived_at": "archived",
    "is_admin": "admin",
    "is_enabled": "can sign in",
    "code": "code",
    "free_over_cents": "free over",
    "position": "position",
    "is_active": "offered",
    "tax_rate_bp": "tax rate",
    "bank_transfer_details": "bank details",
}
LONG_TEXT = 160  # characters of a description shown in the list


@dataclass(frozen=True)
class Change:
    """One changed field as the list shows it."""

    label: str
    before: str | None  # None: the field had no value before (a new item)
    after: str | None


@dataclass(frozen=True)
class Subject:
    """What an event is about, as it is now: a label and a link."""

    label: str
    endpoint: str
    args: dict[str, int]


def _shown(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field in ("price_cents", "free_over_cents") and isinstance(value, int):
        return money(value)
    if field == "tax_rate_bp" and isinstance(value, int):
        return format_rate(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "archived_at":
        return str(value).replace("T", " ")[:16]
    text = str(value)
    return text if len(text) <= LONG_TEXT else text[: LONG_TEXT - 1] + "…"


def changes_of(event: AuditEvent) -> list[Change]:
    try:
        changes = json.loads(event.changes)
        before, after = changes.get("before", {}), changes.get("after", {})
    except (ValueError, AttributeError):
        return []
    return [
        Change(
            label=FIELD_LABELS.get(field, field),
            before=_shown(field, before[field]) if field in before else None,
            after=_shown(field, after[field]) if field in after else None,
        )
        for field in sorted(before.keys() | after.keys(), key=_field_order)
    ]


def _field_order(field: str) -> int:
    order = list(FIELD_LABELS)
    return order.index(field) if field in order else len(order)


def subjects_of(events: list[AuditEvent]) -> dict[tuple[str, int], Subject]:
    """The current names of the page's items and users, in one query."""
    if not events:
        return {}
    wanted: dict[str, set[int]] = {kind: set() for kind in SUBJECT_TYPES}
    for event in events:
        wanted.setdefault(event.subject_type, set()).add(event.subject_id)
    names = sa.union_all(
        sa.select(
            sa.literal("item").label("kind"),
            Item.id,
            Item.name,
            sa.literal("").label("email"),
        ).where(Item.id.in_(wanted["item"])),
        sa.select(sa.literal("user"), User.id, User.name, User.email).where(
            User.id.in_(wanted["user"])
        ),
        sa.select(
            sa.literal("shipping"),
            ShippingMethod.id,
            ShippingMethod.name,
            sa.literal(""),
        ).where(ShippingMethod.id.in_(wanted["shipping"])),
        sa.select(
            sa.literal("page"), ContentPage.id, ContentPage.title, ContentPage.slug
        ).where(ContentPage.id.in_(wanted["page"])),
    )
    found: dict[tuple[str, int], Subject] = {}
    for kind, subject_id, name, email in db.session.execute(names):
        if kind == "item":
            found[kind, subject_id] = Subject(
                name, "items.detail", {"item_id": subject_id}
            )
        elif kind == "shipping":
            found[kind, subject_id] = Subject(name, "purchases.settings", {})
        elif kind == "page":
            # The page's slug rides in the email column of the union.
            found[kind, subject_id] = Subject(name, "pages.show", {"slug": email})
        else:
            found[kind, subject_id] = Subject(
                f"{name} <{email}>", "users.detail", {"user_id": subject_id}
            )
    if wanted["settings"]:
        found["settings", 1] = Subject("Shop settings", "purchases.settings", {})
    return found


@bp.get("/")
@admin_required
def index():
    """Recorded admin changes, newest first, 50 a page; filter by action or subject.

    Three queries whatever the page holds: the count, the page with each
    event's actor joined in, and the current names of its items and users.
    """
    action = request.args.get("action", "")
    if action not in ACTIONS:
        action = ""
    subject_type = request.args.get("subject_type", "")
    if subject_type not in SUBJECT_TYPES:
        subject_type = ""
    subject_id = id_arg("subject_id")
    page = page_arg()

    conditions = []
    if action:
        conditions.append(AuditEvent.action == action)
    if subject_type:
        conditions.append(AuditEvent.subject_type == subject_type)
    if subject_id:
        conditions.append(AuditEvent.subject_id == subject_id)
    events = db.paginate(
        sa.select(AuditEvent)
        .options(so.joinedload(AuditEvent.actor))
        .where(*conditions)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()),
        page=page,
        per_page=PER_PAGE,
        max_per_page=None,
    )
    subjects = subjects_of(events.items)
    focus = subjects.get((subject_type, subject_id)) if subject_id else None
    return render_template(
        "audit/index.html",
        events=events,
        changes={event.id: changes_of(event) for event in events.items},
        subjects=subjects,
        actions=ACTIONS,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        focus=focus,
        filters={
            "action": action or None,
            "subject_type": subject_type or None,
            "subject_id": subject_id,
        },
    )
