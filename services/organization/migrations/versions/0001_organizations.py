"""organizations with RLS, outbox and inbox

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "organization"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.organizations (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL,
            type text NOT NULL CHECK (type IN ('customer', 'mss_provider')),
            domain varchar(255),
            sso_enabled boolean NOT NULL DEFAULT false,
            status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
            settings jsonb NOT NULL DEFAULT '{{}}',
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid
        );
        CREATE UNIQUE INDEX organizations_one_provider ON {S}.organizations (type)
            WHERE type = 'mss_provider';
        CREATE INDEX organizations_created_at_idx ON {S}.organizations (created_at DESC, id);
        """
    )
    # The organization is its own tenant: its id is the row's org id.
    enable_tenant_rls(S, "organizations", column="id")
    grant(S, "organizations", ["SELECT", "INSERT", "UPDATE"])
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.inbox, {S}.outbox, {S}.organizations")
