"""The outbox: emails queued in the transaction that causes them, and the
worker that sends them (`flask outbox run`).

Queueing is an INSERT in the caller's transaction, so an email exists if
and only if what caused it was committed: a rolled-back order sends
nothing, and a committed one cannot lose its email to a crash between the
commit and the send. `dedupe_key` is unique, and a second insert of the
same key is skipped, so one event queues its email once.

Sending, by any number of workers at once:

1. claim: one conditional UPDATE takes up to a batch of due rows, writing
   the worker's name, a lease and one more attempt (on PostgreSQL the rows
   are picked `FOR UPDATE SKIP LOCKED`, so racing workers take different
   rows without waiting; SQLite lets one writer in at a time). A row whose
   lease ran out (its worker died mid-batch) is due again: nothing is lost;
2. before each send the worker renews its lease with another conditional
   UPDATE and sends only if the row is still its own, so two workers never
   send the same row;
3. after each send one UPDATE, on the row still being this worker's, marks it
   `sent`, or on failure puts it back with a later `next_attempt_at`
   (doubling each time) or, after the last try or a permanent refusal
   (an SMTP 5xx), `failed` with the error kept.

The only repeat possible is a worker dying between the server's "250 OK"
and step 3; the email then goes again with the same Message-ID.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from app.database import begin_write
from app.extensions import db
from app.limits import EMAIL_MAX
from app.mail import delivery
from app.mail.kinds import FAILED, KINDS, LINK_KINDS, PENDING, SENT
from app.models import OutboxMessage, utcnow

log = logging.getLogger("app.mail")
SUBJECT_MAX = 200
ERROR_MAX = 2_000
# Characters no email address of ours has; any of them could start a new
# header or another recipient.
ADDRESS_FORBIDDEN = set(' \t\r\n,;<>()[]"\\')
LINK_REMOVED = "(This email held a one-time link. It was removed once sent.)"


def queue(
    kind: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    *,
    dedupe_key: str,
    list_unsubscribe: str | None = None,
) -> bool:
    """Add an email to the outbox in the current transaction (no commit).

    False when an email with this dedupe_key is queued already (nothing
    added). The address must be one plain address and the subject one line:
    anything else is refused here, never passed on as headers.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of email {kind!r}")
    recipient = recipient.strip()
    if (
        not recipient
        or len(recipient) > EMAIL_MAX
        or recipient.count("@") != 1
        or any(ch in ADDRESS_FORBIDDEN or ord(ch) < 32 for ch in recipient)
    ):
        raise ValueError("not one plain email address")
    values = {
        "kind": kind,
        "recipient": recipient,
        "subject": one_line(subject)[:SUBJECT_MAX],
        "body_text": body_text,
        "body_html": body_html,
        "dedupe_key": dedupe_key[:200],
        "list_unsubscribe": list_unsubscribe,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": utcnow(),
    }
    insert = _insert_ignoring_duplicates(values).returning(OutboxMessage.id)
    return db.session.execute(insert).scalar() is not None


def _insert_ignoring_duplicates(values: dict):
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING, on either engine."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def one_line(text: str) -> str:
    """Control characters (CR, LF, tabs...) become spaces, runs of spaces one."""
    spaced = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(spaced.split())


# --- the worker ---------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.failed + self.skipped


def worker_name() -> str:
    """Unique per worker process and run: host, pid and a random tail."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def claim(worker: str, now: datetime, limit: int, lease: timedelta) -> list[int]:
    """Take up to `limit` due rows for `worker` in one conditional UPDATE; commits.

    Due: pending, its next attempt reached, and claimed by nobody or by a
    worker whose lease ran out.
    """
    begin_write()
    due = (
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.status == PENDING,
            OutboxMessage.next_attempt_at <= now,
            sa.or_(
                OutboxMessage.claimed_until.is_(None),
                OutboxMessage.claimed_until < now,
            ),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = db.session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(
            claimed_by=worker,
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(ids)


def _still_mine(row_id: int, worker: str, now: datetime, lease: timedelta) -> bool:
    """Renew the lease just before sending; False if the row is no longer ours."""
    begin_write()
    renewed = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == PENDING,
        )
        .values(claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return renewed == 1


def backoff(attempts: int, config) -> timedelta:
    """The wait after the `attempts`-th failed try: doubling, capped."""
    base = config["OUTBOX_RETRY_SECONDS"]
    seconds = min(base * 2 ** max(attempts - 1, 0), config["OUTBOX_RETRY_MAX_SECONDS"])
    return timedelta(seconds=seconds)


def deliver_due(
    worker: str | None = None,
    now: Callable[[], datetime] = utcnow,
    stop: Callable[[], bool] = lambda: False,
) -> Batch:
    """Claim one batch of due emails and send it; what became of them."""
    config = current_app.config
    worker = worker or worker_name()
    lease = timedelta(seconds=config["OUTBOX_LEASE_SECONDS"])
    ids = claim(worker, now(), config["OUTBOX_BATCH_SIZE"], lease)
    if not ids:
        return Batch()
    counts = {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}

    def rows():
        for row_id in ids:
            if stop():
                # Left claimed: due again when the lease runs out.
                counts["skipped"] += 1
                continue
            if not _still_mine(row_id, worker, now(), lease):
                counts["skipped"] += 1
                continue
            row = db.session.get(OutboxMessage, row_id)
            db.session.expunge(row)
            db.session.rollback()  # no transaction held open over the send
            yield row

    def on_result(row: OutboxMessage, error: Exception | None) -> None:
        outcome = _record(row, worker, error, now(), config)
        counts[outcome] += 1

    delivery.send_all(rows(), on_result)
    return Batch(**counts)


def _record(row, worker: str, error: Exception | None, now: datetime, config) -> str:
    """Write what became of one send, if the row is still this worker's."""
    mine = sa.and_(OutboxMessage.id == row.id, OutboxMessage.claimed_by == worker)
    done = {"claimed_by": None, "claimed_until": None, "updated_at": now}
    if error is None:
        values = {**done, "status": SENT, "sent_at": now, "last_error": None}
        if row.kind in LINK_KINDS:
            values.update(body_text=LINK_REMOVED, body_html="")
        outcome = "sent"
        log.info("Sent email %s (%s) to %s", row.id, row.kind, row.recipient)
    else:
        text = delivery.describe(error)[:ERROR_MAX]
        final = isinstance(error, delivery.Permanent) or (
            row.attempts >= config["OUTBOX_MAX_ATTEMPTS"]
        )
        values = {**done, "last_error": text}
        if final:
            values["status"] = FAILED
            outcome = "failed"
        else:
            values["next_attempt_at"] = now + backoff(row.attempts, config)
            outcome = "retrying"
        log.warning(
            "Email %s (%s) to %s not sent (try %s, %s): %s",
            row.id,
            row.kind,
            row.recipient,
            row.attempts,
            "given up" if final else "will retry",
            text,
        )
    begin_write()
    db.session.execute(
        sa.update(OutboxMessage)
        .where(mine)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return outcome


def retry(row_id: int) -> bool:
    """An admin's retry of a failed (or waiting) email: due now, tries
    counted afresh. One conditional UPDATE; False if it was sent meanwhile."""
    begin_write()
    changed = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.status.in_((FAILED, PENDING)))
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=utcnow(),
            claimed_by=None,
            claimed_until=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return changed == 1


class Worker:
    """`flask outbox run`: send what is due, then wait and look again, until
    SIGTERM or SIGINT (the email being sent is finished first). It also
    cancels unpaid orders past their payment window on a schedule."""

    def __init__(
        self,
        expire_orders: Callable[[], list[str]] | None = None,
        before_batch: Callable[[], int] | None = None,
    ) -> None:
        self.name = worker_name()
        self.stopping = False
        self.expire_orders = expire_orders
        # Queues emails due from other records (restocks) before each batch.
        self.before_batch = before_batch
        self.next_expiry = 0.0

    def stop(self, *_args) -> None:
        self.stopping = True

    def run(self, once: bool = False, echo: Callable[[str], None] = print) -> Batch:
        total = Batch()
        if not once:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        config = current_app.config
        while not self.stopping:
            self._expire_when_due(once, echo)
            self._before_batch()
            batch = deliver_due(self.name, stop=lambda: self.stopping)
            total = Batch(
                *(a + b for a, b in zip(_fields(total), _fields(batch), strict=True))
            )
            if batch.claimed and (batch.sent or batch.failed or batch.retrying):
                echo(
                    f"{batch.sent} sent, {batch.retrying} to retry, {batch.failed} failed."
                )
            if batch.claimed == config["OUTBOX_BATCH_SIZE"] and batch.skipped == 0:
                continue  # more may be due right away
            if once:
                break
            self._sleep(config["OUTBOX_POLL_SECONDS"])
        return total

    def _expire_when_due(self, once: bool, echo) -> None:
        if once or self.expire_orders is None or time.monotonic() < self.next_expiry:
            return
        self.next_expiry = (
            time.monotonic() + current_app.config["ORDERS_EXPIRE_EVERY_SECONDS"]
        )
        try:
            cancelled = self.expire_orders()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("Expiring unpaid orders failed; will try again later")
            return
        if cancelled:
            echo(f"Cancelled {len(cancelled)} unpaid orders: {', '.join(cancelled)}.")

    def _before_batch(self) -> None:
        if self.before_batch is None:
            return
        try:
            self.before_batch()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("Queueing restock emails failed; will try again later")

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()))


def _fields(batch: Batch) -> tuple[int, int, int, int]:
    return batch.sent, batch.retrying, batch.failed, batch.skipped
