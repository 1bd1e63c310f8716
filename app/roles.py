"""Least privilege on PostgreSQL: the store runs as a role that does not own
its tables.

Migrations run as the owner (the role that created the tables); gunicorn
and the outbox worker connect as an application role granted only what the
store does: SELECT, INSERT, UPDATE and DELETE on its tables, and on the
audit trail only SELECT and INSERT. Not owning `audit_events`, that role
cannot drop or disable the trigger that keeps it append-only, nor TRUNCATE
it. `flask grant-app-role ROLE` (run as the owner) writes these grants, and
the default privileges that give the role the tables later migrations add.
"""

from __future__ import annotations

from psycopg import sql

# Tables the application role may read and add to, never change.
APPEND_ONLY = ("audit_events",)


def grant_statements(role: str, database: str) -> list[sql.Composed]:
    """The statements that give `role` the store's rights in `database`, and
    no more."""
    who = sql.Identifier(role)
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(database), who
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(who),
        sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
        ).format(who),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(
            who
        ),
        # Tables and sequences the owner's later migrations create.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(who),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            "GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(who),
    ]
    for table in APPEND_ONLY:
        statements.append(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(table), who
            )
        )
    return statements


def grant(dbapi_connection, role: str) -> list[str]:
    """Run the grants on a psycopg connection as the tables' owner, in one
    transaction; returns the statements as run."""
    database = dbapi_connection.execute("SELECT current_database()").fetchone()[0]
    run = []
    try:
        for statement in grant_statements(role, database):
            dbapi_connection.execute(statement)
            run.append(statement.as_string(dbapi_connection))
    except BaseException:
        dbapi_connection.rollback()
        raise
    dbapi_connection.commit()
    return run
