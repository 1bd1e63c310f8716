"""The shop's content pages (About, Contact, Shipping, Returns, Privacy, Terms).

- content_pages: `slug` (unique), `title`, `body` (plain text an admin edits);
  one row per page is written here, with text a shop can start from;
- the audit trail's CHECK admits 'page' events (an admin's edit of a page).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")
SUBJECTS_BEFORE = "'item', 'user', 'shipping', 'settings'"
SUBJECTS_AFTER = SUBJECTS_BEFORE + ", 'page'"

PAGES = [
    (
        "about",
        "About us",
        "Corner Store is a small shop selling everyday things that last: "
        "kitchenware, lamps, stationery and more, chosen one by one.\n\n"
        "Every price on the site is the price you pay before tax, and every "
        "stock count is the real number on our shelves.",
    ),
    (
        "contact",
        "Contact",
        "Questions about an order, an item or a return? Write to "
        "help@example.com with your order number and we answer within one "
        "working day.\n\n"
        "## Post\n\n"
        "Corner Store\n1 Market Street\nSpringfield",
    ),
    (
        "shipping",
        "Shipping",
        "We pack and send orders on the working day after payment arrives. "
        "You choose the delivery method at checkout and see its price before "
        "you pay; some methods are free above an order amount.\n\n"
        "## Tracking\n\n"
        "When your order ships we email you its tracking number, and it shows "
        "on the order's page.",
    ),
    (
        "returns",
        "Returns",
        "Changed your mind? Send an item back unused within 30 days of "
        "delivery and we refund its price.\n\n"
        "- Write to us first with your order number.\n"
        "- Pack the item as it came.\n"
        "- We refund to the way you paid within 5 working days of receiving it.\n\n"
        "An order that has not shipped yet can be cancelled from its page.",
    ),
    (
        "privacy",
        "Privacy",
        "We keep only what running your orders needs: your name, email, the "
        "addresses you ship to and what you bought. We never sell it or share "
        "it with advertisers.\n\n"
        "## Cookies\n\n"
        "One cookie keeps you signed in and holds your cart. There are no "
        "tracking or advertising cookies.\n\n"
        "## Your account\n\n"
        "You can change your details or delete your account at any time from "
        "your account page; orders stay on record, without your name.",
    ),
    (
        "terms",
        "Terms",
        "Prices are shown in US dollars before tax; tax and delivery are added "
        "at checkout and shown before you place the order.\n\n"
        "An order is a contract once it is paid. Orders paid by bank transfer "
        "wait for the payment and are cancelled if it does not arrive within "
        "the payment window.",
    ),
]


def _audit_subjects(subjects: str) -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(op.f("ck_audit_events_subject_type"), type_="check")
        batch.create_check_constraint("subject_type", f"subject_type IN ({subjects})")


def upgrade():
    pages = op.create_table(
        "content_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "length(slug) >= 1", name=op.f("ck_content_pages_slug_not_empty")
        ),
        sa.CheckConstraint(
            "length(title) >= 1", name=op.f("ck_content_pages_title_not_empty")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_pages")),
        sa.UniqueConstraint("slug", name=op.f("uq_content_pages_slug")),
    )
    op.bulk_insert(
        pages,
        [{"slug": slug, "title": title, "body": body} for slug, title, body in PAGES],
    )
    _audit_subjects(SUBJECTS_AFTER)


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    # The pages' audit events go with the pages (on PostgreSQL past the
    # append-only guard, which only the table's owner can lift).
    if postgresql:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    op.execute("DELETE FROM audit_events WHERE subject_type = 'page'")
    if postgresql:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    _audit_subjects(SUBJECTS_BEFORE)
    op.drop_table("content_pages")
