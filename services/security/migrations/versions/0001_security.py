"""security: the example tenant table (items), outbox and inbox

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "security"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.items (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX items_org_idx ON {S}.items (org_id, created_at DESC, id);
        """
    )
    enable_tenant_rls(S, "items")
    # The example only adds and reads items: the app role gets nothing more.
    grant(S, "items", ["SELECT", "INSERT"])
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.inbox, {S}.outbox, {S}.items")
