"""mail delivery log (no token, no body), outbox and inbox

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "notification"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.mail_deliveries (
            id uuid PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            org_id uuid,
            recipient text NOT NULL,
            template text NOT NULL,
            status text NOT NULL CHECK (status IN ('sent', 'failed')),
            attempts integer NOT NULL CHECK (attempts >= 0),
            last_error text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            sent_at timestamptz
        );
        CREATE INDEX mail_deliveries_org_idx ON {S}.mail_deliveries (org_id, created_at DESC);
        CREATE INDEX mail_deliveries_failed_idx ON {S}.mail_deliveries (created_at)
            WHERE status = 'failed';
        """
    )
    enable_tenant_rls(S, "mail_deliveries")
    # The worker only adds outcomes: the app role can read and insert, nothing more.
    grant(S, "mail_deliveries", ["SELECT", "INSERT"])
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.inbox, {S}.outbox, {S}.mail_deliveries")
