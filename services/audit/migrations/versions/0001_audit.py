"""event store and hash-chained, append-only audit log

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "audit"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.events (
            position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id uuid PRIMARY KEY,
            type text NOT NULL,
            aggregate_id uuid NOT NULL,
            aggregate_type text NOT NULL,
            org_id uuid,
            data jsonb NOT NULL,
            metadata jsonb NOT NULL,
            schema_version integer NOT NULL,
            occurred_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX events_aggregate_idx ON {S}.events (aggregate_id, position);
        CREATE INDEX events_org_idx ON {S}.events (org_id, position);

        CREATE TABLE {S}.audit_logs (
            position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id uuid PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            user_id uuid,
            session_id uuid,
            org_id uuid,
            action text NOT NULL,
            resource_type text NOT NULL,
            resource_id uuid,
            details jsonb NOT NULL,
            ip_address inet,
            user_agent text,
            success boolean NOT NULL DEFAULT true,
            error_message text,
            timestamp timestamptz NOT NULL,
            chain_key uuid NOT NULL,
            seq bigint NOT NULL,
            prev_hash text NOT NULL,
            hash text NOT NULL,
            UNIQUE (chain_key, seq)
        );
        CREATE INDEX audit_logs_org_idx ON {S}.audit_logs (org_id, position DESC);
        CREATE INDEX audit_logs_user_idx ON {S}.audit_logs (user_id, position DESC);
        CREATE INDEX audit_logs_resource_idx ON {S}.audit_logs (resource_id, position DESC);

        CREATE FUNCTION {S}.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit records are append-only (% on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    for table in ("events", "audit_logs"):
        run_sql(
            f"""
            CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {S}.{table}
                FOR EACH ROW EXECUTE FUNCTION {S}.reject_change();
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {S}.{table}
                FOR EACH STATEMENT EXECUTE FUNCTION {S}.reject_change();
            """
        )
        enable_tenant_rls(S, table)
        # Append-only by privilege too: the app role can read and add, never change.
        grant(S, table, ["SELECT", "INSERT"])
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.inbox, {S}.outbox, {S}.audit_logs, {S}.events")
    op.execute(f"DROP FUNCTION {S}.reject_change()")
