"""Writing the audit trail: one AuditEvent per admin change, in the change's transaction.

Callers add the event to the session before they commit, so the change and
its record are written together or not at all. `changes` keeps only the
fields whose value changed, as {"before": {...}, "after": {...}}; an item's
price is always `price_cents` (integer minor units), like the items table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context
from flask_login import current_user

from app.extensions import db
from app.models import AuditEvent, Item, utcnow

ACTIONS = {
    "item.create": "Item added",
    "item.update": "Item edited",
    "item.archive": "Item archived",
    "item.restore": "Item restored",
    "item.import": "Item imported from CSV",
    "item.review_hide": "Review hidden",
    "item.review_show": "Review shown again",
    "item.image_add": "Item picture added",
    "item.image_move": "Item picture moved",
    "item.image_delete": "Item picture deleted",
    "user.grant_admin": "Admin rights granted",
    "user.revoke_admin": "Admin rights removed",
    "user.disable": "Account disabled",
    "user.enable": "Account enabled",
    "shipping.create": "Shipping method added",
    "shipping.update": "Shipping method edited",
    "settings.update": "Shop settings changed",
    "page.update": "Page edited",
}
SUBJECT_TYPES = ("item", "user", "shipping", "settings", "page")
ITEM_FIELDS = ("name", "description", "price_cents", "stock")
USER_FIELDS = ("is_admin", "is_enabled")

Changes = dict[str, dict[str, Any]]
_MISSING = object()


def item_values(item: Item) -> dict[str, Any]:
    """The audited fields of an item, as they are now."""
    return {field: getattr(item, field) for field in ITEM_FIELDS}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> Changes | None:
    """The fields whose value differs, before and after; None when nothing changed.

    A field missing from `before` (a new item) appears in "after" only.
    """
    changed = sorted(
        key
        for key in before.keys() | after.keys()
        if before.get(key, _MISSING) != after.get(key, _MISSING)
    )
    if not changed:
        return None
    return {
        "before": {key: before[key] for key in changed if key in before},
        "after": {key: after[key] for key in changed if key in after},
    }


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(f"cannot record {type(value).__name__} in the audit trail")


def dumps(changes: Changes) -> str:
    return json.dumps(
        changes,
        default=_json_value,
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def current_actor() -> int | None:
    """The signed-in admin making a web change; None from the command line."""
    if has_request_context() and current_user.is_authenticated:
        return current_user.id
    return None


def _check(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return action.partition(".")[0]


def record(
    action: str,
    subject_id: int,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> AuditEvent | None:
    """Add an event for one change to the session (the caller commits).

    Nothing is recorded when no field changed.
    """
    subject_type = _check(action)
    changes = diff(before, after)
    if changes is None:
        return None
    event = AuditEvent(
        actor_id=current_actor(),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        changes=dumps(changes),
    )
    db.session.add(event)
    return event


def record_many(action: str, changes: Iterable[tuple[int, Mapping, Mapping]]) -> int:
    """One event per (subject id, before, after), in one bulk insert; returns the count."""
    subject_type = _check(action)
    actor_id, now = current_actor(), utcnow()
    rows = []
    for subject_id, before, after in changes:
        found = diff(before, after)
        if found is not None:
            rows.append(
                {
                    "actor_id": actor_id,
                    "action": action,
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "changes": dumps(found),
                    "created_at": now,
                    "updated_at": now,
                }
            )
    if rows:
        db.session.execute(sa.insert(AuditEvent), rows)
    return len(rows)
