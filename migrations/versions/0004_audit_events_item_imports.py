"""The audit trail (audit_events) and checked CSV uploads awaiting Apply (item_imports).

audit_events is append-only. The app has no route that edits or deletes an
event; on PostgreSQL a statement trigger also refuses every UPDATE and
DELETE on the table, whoever sends it (TRUNCATE, an owner's operation, is
left for maintenance and the test suite). SQLite, the development database,
relies on the app alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")

POSTGRESQL_GUARD = [
    """
    CREATE FUNCTION audit_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """,
]


def timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
    ]


def upgrade():
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "subject_type IN ('item', 'user')", name=op.f("ck_audit_events_subject_type")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_events_actor_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_actor_id"), "audit_events", ["actor_id"])
    op.create_index(
        "ix_audit_events_subject", "audit_events", ["subject_type", "subject_id", "created_at", "id"]
    )
    op.create_index("ix_audit_events_created_at", "audit_events", ["created_at", "id"])
    op.create_index("ix_audit_events_action", "audit_events", ["action", "created_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_GUARD:
            op.execute(statement)

    op.create_table(
        "item_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        *timestamps(),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_item_imports_actor_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_imports")),
        sa.UniqueConstraint("token", name=op.f("uq_item_imports_token")),
    )
    op.create_index(op.f("ix_item_imports_actor_id"), "item_imports", ["actor_id"])


def downgrade():
    op.drop_index(op.f("ix_item_imports_actor_id"), table_name="item_imports")
    op.drop_table("item_imports")

    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_index("ix_audit_events_created_at", table_name="audit_events")
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_actor_id"), table_name="audit_events")
    op.drop_table("audit_events")
