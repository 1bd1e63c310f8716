"""How the store talks to its databases: engine settings and SQL helpers.

SQLite and PostgreSQL are made to keep the same rules (foreign keys on, UTC
clocks) and writers that must not race start their transactions as writers.
"""

from __future__ import annotations

import sqlite3

import psycopg
import sqlalchemy as sa
from flask import Flask

from app.extensions import db


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record) -> None:
    """Make SQLite keep the same rules as PostgreSQL and wait for locks.

    Foreign keys are off by default in SQLite; WAL lets readers run beside the
    one writer, and the busy timeout (DATABASE_BUSY_TIMEOUT, the driver's
    `timeout`: see engine_options) makes a writer queue instead of failing.
    The driver's own transaction handling is turned off so that SQLAlchemy's
    `begin` event below decides how each transaction starts.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@sa.event.listens_for(sa.Engine, "connect")
def _postgresql_on_connect(dbapi_connection, _record) -> None:
    """Keep PostgreSQL's clock in UTC, like utcnow() and SQLite's CURRENT_TIMESTAMP.

    The timestamp columns are naive UTC. A PostgreSQL session otherwise takes the
    server's time zone, so server defaults and `now()` in UPDATEs would write
    local time beside the ORM's UTC values.
    """
    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.autocommit = autocommit


def engine_options(app: Flask) -> dict:
    """The engine's options with the store's timeouts for its database.

    PostgreSQL: libpq's connect timeout, and the server's lock, statement and
    idle-in-transaction timeouts as the connection's own settings; SQLite:
    the busy timeout. Any pool but SQLite's in-memory one waits at most
    DATABASE_POOL_TIMEOUT for a free connection. Every wait ends in an error
    that is_unavailable() knows, which the error pages answer with a 503.
    """
    config = app.config
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    connect_args = dict(options.get("connect_args") or {})
    if url.get_backend_name() == "postgresql":
        settings = {
            "lock_timeout": config["DATABASE_LOCK_TIMEOUT"],
            "statement_timeout": config["DATABASE_STATEMENT_TIMEOUT"],
            "idle_in_transaction_session_timeout": config[
                "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT"
            ],
        }
        connect_args.setdefault(
            # libpq counts whole seconds, and takes less than 2 as 2.
            "connect_timeout",
            max(2, round(config["DATABASE_CONNECT_TIMEOUT"])),
        )
        connect_args.setdefault(
            "options",
            " ".join(f"-c {name}={_ms(v)}" for name, v in settings.items()),
        )
    elif url.get_backend_name() == "sqlite":
        connect_args.setdefault("timeout", config["DATABASE_BUSY_TIMEOUT"])
    options["connect_args"] = connect_args
    in_memory = url.get_backend_name() == "sqlite" and url.database in (
        None,
        "",
        ":memory:",
    )
    if not in_memory and "poolclass" not in options:
        options.setdefault("pool_timeout", config["DATABASE_POOL_TIMEOUT"])
    return options


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def without_timeouts(connection: sa.Connection) -> None:
    """Lift the statement and lock timeouts from `connection`, for work that
    is long by nature (migrations, `flask seed`), never for a request.
    Session-level: it lasts as long as that connection."""
    if connection.dialect.name == "postgresql":
        for name in (
            "statement_timeout",
            "lock_timeout",
            "idle_in_transaction_session_timeout",
        ):
            connection.exec_driver_sql(f"SET {name} = 0")


# SQLite's errors that mean "wait and try again", not a fault in the request.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "unable to open database",
    "disk i/o error",
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is busy or out of reach (a lock or
    statement timeout, a refused or timed-out connection, a full pool), not
    that the request itself went wrong."""
    if isinstance(error, sa.exc.TimeoutError):  # no free pooled connection
        return True
    if not isinstance(error, sa.exc.OperationalError):
        return False
    original = getattr(error, "orig", None)
    if isinstance(original, sqlite3.OperationalError):
        text = str(original).lower()
        return any(marker in text for marker in _SQLITE_UNAVAILABLE)
    # psycopg: lock_not_available, query_canceled, connection failures... all
    # OperationalError; a missing table or bad SQL is a ProgrammingError.
    return True


@sa.event.listens_for(sa.Engine, "begin")
def _sqlite_on_begin(conn: sa.Connection) -> None:
    """Start SQLite transactions ourselves; writers that must not race ask for IMMEDIATE."""
    if conn.dialect.name != "sqlite":
        return
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def begin_write() -> None:
    """Start the session's next transaction as a writer.

    On SQLite that is `BEGIN IMMEDIATE`: the write lock is taken up front (waiting
    under the busy timeout) so a transaction that reads then writes cannot fail
    half-way on a stale snapshot. PostgreSQL needs nothing special: its
    conditional UPDATEs lock the rows they change.
    """
    db.session.rollback()
    db.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def sql_literal(
    value: int | None = None, *, name: str | None = None
) -> sa.BindParameter[int]:
    """An integer written into the SQL when the statement runs, not bound.

    psycopg prepares a statement after five runs, and PostgreSQL may then plan
    it once for any values: with an unknown LIMIT or OFFSET it walks an index
    it would not for the real ones, and with an unknown item id it plans for
    an average item (sorting a best seller's every line). Written in, each run
    is planned for its own numbers; the statement is still built and compiled
    once, only the numbers are filled in. Give `value` now, or `name` to pass
    it when the statement runs (`execute(stmt, {name: value})`).
    """
    return sa.bindparam(name, value, type_=sa.Integer, literal_execute=True)


def materialized(select: sa.Select, name: str) -> sa.CTE:
    """`select` as a CTE that PostgreSQL evaluates once, as written (AS
    MATERIALIZED), rather than folding it into the query that reads it."""
    return select.cte(name).prefix_with("MATERIALIZED")


def lock_in_key_order(key: sa.Column, keys) -> None:
    """Lock the rows whose `key` is in `keys` (values or a select) until the
    transaction ends, in key order, on PostgreSQL: every writer that locks the
    same rows takes them in the same order, so writers queue instead of
    deadlocking. SQLite needs nothing: BEGIN IMMEDIATE lets one writer in."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            sa.select(key).where(key.in_(keys)).order_by(key).with_for_update()
        )


def gather_statistics(*tables: str, vacuum: bool = False) -> None:
    """ANALYZE the tables a bulk load just wrote, after its commit.

    Until the planner has statistics for the new rows it guesses: right after
    a seed PostgreSQL planned a deep catalogue page as a sort of every item
    (10 requests a second instead of hundreds) and waited for autovacuum to
    notice. SQLite keeps its statistics (sqlite_stat1) only when asked.

    `vacuum` (PostgreSQL, for `flask seed`): VACUUM (ANALYZE) instead, which
    also marks the new rows' pages all-visible, so the catalogue's
    index-only scans answer from the index instead of visiting every row
    until autovacuum comes round. Too long for a request (the CSV import
    analyzes only); SQLite's VACUUM would rewrite the whole file.
    """
    for table in tables:
        if table not in db.metadata.tables:  # names are written into the statement
            raise ValueError(f"not a table of the store's: {table}")
    if vacuum and db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            without_timeouts(conn)
            for table in tables:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
        return
    with db.engine.connect() as conn:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table}")
        conn.commit()
