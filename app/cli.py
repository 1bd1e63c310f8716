"""Operator commands: `flask create-admin`, `flask seed`, `flask import-items`,
`flask orders expire`, `flask outbox run`, `flask users set-password`."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import psycopg
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app

from app import roles
from app.audit import events as audit
from app.database import begin_write, gather_statistics, without_timeouts
from app.demo import DEMO_PASSWORD, DEMO_TABLES, seed_store
from app.extensions import db
from app.items import csv_io
from app.mail import messages
from app.mail.outbox import Worker
from app.mail.restocks import notify_restocks
from app.models import Item, User, utcnow
from app.orders import lifecycle, payments
from app.passwords import password_problem

# A new password, prompted for (without echo, twice) when not given.
password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for (without echo) when not given.",
)


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed)
    app.cli.add_command(import_items)
    app.cli.add_command(orders)
    app.cli.add_command(outbox)
    app.cli.add_command(users)
    app.cli.add_command(grant_app_role)


@click.group("orders")
def orders() -> None:
    """Orders: expire those left unpaid."""


@orders.command("expire")
def expire_orders() -> None:
    """Cancel unpaid orders older than their payment method's window
    (PAYMENT_WINDOWS) and return their stock."""
    cancelled = lifecycle.expire(
        utcnow(), current_app.config["PAYMENT_WINDOWS"], payments.release
    )
    if cancelled:
        noun = "order" if len(cancelled) == 1 else "orders"
        click.echo(f"Cancelled {len(cancelled)} unpaid {noun}: {', '.join(cancelled)}.")
    else:
        click.echo("No unpaid orders past their payment window.")


@click.group("outbox")
def outbox() -> None:
    """Email: send what the outbox holds."""


@outbox.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
def outbox_run(once: bool) -> None:
    """Send the outbox's emails: claim those due, send them, mark them sent;
    failures wait and are tried again (doubling waits) until OUTBOX_MAX_ATTEMPTS.

    Without --once this is the long-running worker: it looks again every
    OUTBOX_POLL_SECONDS, cancels unpaid orders past their payment window
    every ORDERS_EXPIRE_EVERY_SECONDS, and stops on SIGTERM or Ctrl-C after
    the email it is sending. Any number of workers may run at once. Exits 0
    even when a send failed: the email waits for its retry.
    """
    config = current_app.config
    where = config.get("MAIL_SERVER") or config["MAIL_FILE_PATH"]
    _log_to_stderr("app.mail")
    worker = Worker(
        expire_orders=lambda: lifecycle.expire(
            utcnow(), config["PAYMENT_WINDOWS"], payments.release
        ),
        before_batch=notify_restocks,
    )
    if not once:
        click.echo(f"Outbox worker {worker.name} sending to {where}; Ctrl-C stops it.")
    total = worker.run(once=once, echo=click.echo)
    if once:
        click.echo(
            f"{total.sent} sent, {total.retrying} to retry later, {total.failed} failed."
        )


def _log_to_stderr(name: str) -> None:
    """The worker's log (each email sent, written or refused) on stderr, once."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


@click.group("users")
def users() -> None:
    """Accounts: an operator's password reset."""


@users.command("set-password")
@click.argument("email")
@password_option
def set_password(email: str, password: str) -> None:
    """Give an account a new password and end its sessions. Grants nothing:
    an admin stays an admin, a shopper a shopper, a disabled account disabled.
    The account's owner gets an email saying the password changed."""
    if problem := password_problem(password):
        raise click.BadParameter(problem, param_hint="--password")
    begin_write()
    user = db.session.scalar(
        sa.select(User).where(User.email == User.normalize_email(email))
    )
    if user is None or user.is_deleted:
        db.session.rollback()
        raise click.ClickException(f"No account uses {email}.")
    user.set_password(password)
    user.end_sessions()
    messages.password_changed(user, utcnow().strftime("%Y%m%d%H%M%S"))
    db.session.commit()
    state = "" if user.is_enabled else " (the account stays disabled)"
    click.echo(
        f"New password set for {user.name} <{user.email}>{state}; signed out everywhere."
    )


@click.command("grant-app-role")
@click.argument("role")
def grant_app_role(role: str) -> None:
    """Give ROLE what the store needs on PostgreSQL, and on the audit trail
    only SELECT and INSERT (run as the tables' owner: DATABASE_URL names it).
    The store then runs with DATABASE_URL naming ROLE; migrations stay the
    owner's. The role must exist (createuser ROLE)."""
    if db.engine.dialect.name != "postgresql":
        raise click.UsageError("Roles are PostgreSQL's: SQLite has none.")
    connection = db.engine.raw_connection()
    try:
        for statement in roles.grant(connection.driver_connection, role):
            click.echo(f"{statement};")
    except psycopg.Error as error:
        raise click.ClickException(str(error).strip()) from None
    finally:
        connection.close()
    click.echo(f"{role} may now run the store; the audit trail is append-only to it.")


@click.command("create-admin")
@click.option("--name", required=True, help="The admin's display name.")
@click.option("--email", required=True, help="The admin's sign-in email.")
@password_option
def create_admin(name: str, email: str, password: str) -> None:
    """Create an admin, or make an existing user an admin with this password."""
    email = User.normalize_email(email)
    name = name.strip()
    if not name or len(name) > 100:
        raise click.BadParameter(
            "Give a name of 1 to 100 characters.", param_hint="--name"
        )
    # The same check as the sign-up form (WTForms' Email uses email_validator).
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise click.BadParameter(
            f"Give a valid email address ({error}).", param_hint="--email"
        ) from None
    if len(email) > 254:
        raise click.BadParameter("Give a valid email address.", param_hint="--email")
    if problem := password_problem(password):
        raise click.BadParameter(problem, param_hint="--password")
    user = db.session.scalar(sa.select(User).where(User.email == email))
    created = user is None
    if created:
        user = User(name=name, email=email)
        db.session.add(user)
    before = {} if created else {f: getattr(user, f) for f in audit.USER_FIELDS}
    user.is_admin = True
    user.is_enabled = True
    user.set_password(password)
    user.end_sessions()
    db.session.flush()
    # In the audit trail without an actor: the command line.
    audit.record(
        "user.grant_admin", user.id, _only(before, "is_admin"), {"is_admin": True}
    )
    if before.get("is_enabled") is False:
        audit.record(
            "user.enable", user.id, {"is_enabled": False}, {"is_enabled": True}
        )
    db.session.commit()
    verb = "Created admin" if created else "Made existing user an admin:"
    click.echo(f"{verb} {user.name} <{user.email}> (id {user.id}).")


def _only(values: dict, key: str) -> dict:
    return {key: values[key]} if key in values else {}


@click.command("import-items")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Write the rows (all or none; only when no row has a problem).",
)
def import_items(path: Path, apply_: bool) -> None:
    """Check a CSV of items like /items/import does; --apply writes it.

    Columns name,description,price,stock and an optional id (to update that
    item). Every problem is listed by row; the exit code is 1 when there is any.
    """
    with path.open("rb") as file:
        data = file.read(csv_io.MAX_BYTES + 1)  # enough to refuse a larger one
    if apply_:
        begin_write()  # the check's reads and the writes in one transaction
    checked = csv_io.check(data, lock=apply_)
    for line in checked.report():
        click.echo(line, err=True)
    if not checked.ok:
        db.session.rollback()
        click.echo("Nothing was imported: fix the problems above and run again.")
        raise SystemExit(1)
    summary = (
        f"{len(checked.rows)} rows: {checked.count('add')} to add, "
        f"{checked.count('update')} to update, {checked.count('unchanged')} unchanged."
    )
    if not apply_:
        click.echo(f"{summary} Nothing written; run again with --apply to import.")
        return
    try:
        applied = csv_io.apply(checked)
    except csv_io.Conflict as conflict:  # the locks make this unlikely
        db.session.rollback()
        click.echo(f"Nothing was imported: {conflict}; run again.", err=True)
        raise SystemExit(1) from None
    db.session.commit()
    if csv_io.needs_statistics(applied):
        gather_statistics("items")
    click.echo(
        f"Imported {applied.added} new and {applied.updated} updated items "
        f"({applied.unchanged} unchanged); the audit trail records them."
    )


@click.command("seed")
@click.option(
    "--items", "n_items", default=120, show_default=True, type=click.IntRange(0)
)
@click.option(
    "--users", "n_users", default=40, show_default=True, type=click.IntRange(0)
)
@click.option(
    "--purchases", "n_purchases", default=600, show_default=True, type=click.IntRange(0)
)
@click.option(
    "--random-seed", default=42, show_default=True, help="For repeatable data."
)
@click.option(
    "--if-empty", is_flag=True, help="Do nothing when the store has items already."
)
def seed(
    n_items: int, n_users: int, n_purchases: int, random_seed: int, if_empty: bool
) -> None:
    """Add demo users, items and purchases (bulk inserts, fast at large counts)."""
    without_timeouts(db.session.connection())  # a large seed's inserts take a while
    if if_empty and db.session.scalar(sa.select(sa.func.count(Item.id))):
        click.echo("The store has items already; not seeding.")
        return
    seeded = seed_store(n_items, n_users, n_purchases, random_seed)
    db.session.commit()
    click.echo(
        "Gathering the planner's statistics for the new rows (VACUUM ANALYZE on "
        "PostgreSQL, ANALYZE on SQLite)..."
    )
    gather_statistics(*DEMO_TABLES, vacuum=True)
    click.echo(
        f"Seeded {seeded.items} items, {seeded.users} users, {seeded.lines} purchase "
        f"lines in {seeded.orders} orders. Demo shoppers sign in with password "
        f"{DEMO_PASSWORD!r}."
    )
