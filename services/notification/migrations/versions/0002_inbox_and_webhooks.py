"""inbox, preferences, user and organization projections, mails held back, digests, webhooks

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "notification"

TABLES = (
    "user_directory",
    "org_directory",
    "notifications",
    "preferences",
    "notification_mails",
    "digests",
    "webhooks",
    "webhook_deliveries",
)


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.user_directory (
            user_id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            email text NOT NULL,
            first_name text NOT NULL,
            last_name text NOT NULL,
            role text,
            status text NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX user_directory_org_role_idx ON {S}.user_directory (org_id, role);
        CREATE INDEX user_directory_role_idx ON {S}.user_directory (role);

        CREATE TABLE {S}.org_directory (
            org_id uuid PRIMARY KEY,
            type text NOT NULL,
            status text NOT NULL,
            settings jsonb NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE {S}.notifications (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            user_id uuid NOT NULL,
            event_id uuid NOT NULL,
            subject_org_id uuid,
            type text NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            resource_type text,
            resource_id uuid,
            severity text,
            read_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT notifications_once_per_user UNIQUE (user_id, event_id)
        );
        CREATE INDEX notifications_inbox_idx
            ON {S}.notifications (org_id, user_id, created_at DESC, id DESC);
        CREATE INDEX notifications_unread_idx
            ON {S}.notifications (org_id, user_id) WHERE read_at IS NULL;

        CREATE TABLE {S}.preferences (
            user_id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            in_app boolean NOT NULL,
            email boolean NOT NULL,
            min_alert_severity text NOT NULL,
            quiet_hours jsonb,
            digest text NOT NULL CHECK (digest IN ('off', 'hourly', 'daily')),
            muted_types text[] NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );

        CREATE TABLE {S}.notification_mails (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            user_id uuid NOT NULL,
            event_id uuid NOT NULL,
            recipient text NOT NULL,
            subject text NOT NULL,
            body text NOT NULL,
            status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'digested')),
            digest text NOT NULL CHECK (digest IN ('off', 'hourly', 'daily')),
            send_after timestamptz NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            sent_at timestamptz,
            CONSTRAINT notification_mails_once_per_user UNIQUE (user_id, event_id)
        );
        CREATE INDEX notification_mails_due_idx ON {S}.notification_mails (send_after)
            WHERE status = 'pending';

        CREATE TABLE {S}.digests (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            user_id uuid NOT NULL,
            period text NOT NULL CHECK (period IN ('hourly', 'daily')),
            period_start timestamptz NOT NULL,
            mails integer NOT NULL,
            status text NOT NULL CHECK (status IN ('sent', 'failed')),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT digests_once_per_period UNIQUE (user_id, period, period_start)
        );

        CREATE TABLE {S}.webhooks (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            url text NOT NULL,
            events text[] NOT NULL,
            description text,
            secret_sealed text NOT NULL,
            status text NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
            consecutive_failures integer NOT NULL DEFAULT 0,
            created_by uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            disabled_at timestamptz,
            deleted_at timestamptz
        );
        CREATE INDEX webhooks_org_idx ON {S}.webhooks (org_id) WHERE status = 'active';

        CREATE TABLE {S}.webhook_deliveries (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            webhook_id uuid NOT NULL REFERENCES {S}.webhooks (id),
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            payload jsonb NOT NULL,
            attempt integer NOT NULL DEFAULT 0,
            status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
            response_status integer,
            response_excerpt text,
            last_error text,
            next_attempt_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            delivered_at timestamptz,
            CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
        );
        CREATE INDEX webhook_deliveries_due_idx ON {S}.webhook_deliveries (next_attempt_at)
            WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_list_idx
            ON {S}.webhook_deliveries (webhook_id, created_at DESC);
        """
    )
    for table in TABLES:
        enable_tenant_rls(S, table)
        grant(S, table, ["SELECT", "INSERT", "UPDATE"])


def downgrade() -> None:
    op.execute(f"DROP TABLE {', '.join(f'{S}.{t}' for t in reversed(TABLES))}")
