"""intervention: interventions, work log, remote sessions, the organization and grant
projections, outbox and inbox

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql
from mss_grants import create_grant_projection

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "intervention"


def upgrade() -> None:
    # Status, priority and type are text codes, not enums: under RLS only leakproof
    # operators can be index conditions (NOTES.md).
    run_sql(
        f"""
        CREATE TABLE {S}.interventions (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            title varchar(255) NOT NULL,
            description text NOT NULL,
            priority text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
            type text NOT NULL,
            status text NOT NULL CHECK (status IN
                ('requested', 'approved', 'scheduled', 'in_progress', 'completed', 'cancelled')),
            requested_by uuid,
            assigned_to uuid,
            estimated_hours double precision,
            scheduled_for timestamptz,
            completed_at timestamptz,
            cancelled_at timestamptz,
            cancel_reason text,
            summary text,
            source_alert_id uuid,
            response_due_at timestamptz NOT NULL,
            resolution_due_at timestamptz NOT NULL,
            responded_at timestamptz,
            response_breached_at timestamptz,
            resolution_breached_at timestamptz,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX interventions_org_created_idx
            ON {S}.interventions (org_id, created_at DESC, id);
        CREATE INDEX interventions_assignee_idx
            ON {S}.interventions (assigned_to) WHERE assigned_to IS NOT NULL;
        CREATE UNIQUE INDEX interventions_source_alert_idx
            ON {S}.interventions (org_id, source_alert_id) WHERE source_alert_id IS NOT NULL;
        -- The SLA clock reads only deadlines still to watch: small, whatever the history.
        CREATE INDEX interventions_response_due_idx ON {S}.interventions (response_due_at)
            WHERE responded_at IS NULL AND response_breached_at IS NULL
              AND cancelled_at IS NULL;
        CREATE INDEX interventions_resolution_due_idx ON {S}.interventions (resolution_due_at)
            WHERE completed_at IS NULL AND resolution_breached_at IS NULL
              AND cancelled_at IS NULL;

        CREATE TABLE {S}.work_log (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            intervention_id uuid NOT NULL REFERENCES {S}.interventions (id),
            user_id uuid NOT NULL,
            at timestamptz NOT NULL,
            quarters smallint NOT NULL CHECK (quarters BETWEEN 1 AND 96),
            note text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX work_log_intervention_idx ON {S}.work_log (intervention_id, at);
        CREATE INDEX work_log_org_at_idx ON {S}.work_log (org_id, at);

        CREATE TABLE {S}.remote_sessions (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            intervention_id uuid NOT NULL,
            technician_id uuid NOT NULL,
            service varchar(50) NOT NULL,
            status text NOT NULL CHECK (status IN ('active', 'ended')),
            started_at timestamptz NOT NULL,
            ended_at timestamptz,
            version integer NOT NULL
        );
        CREATE INDEX remote_sessions_intervention_idx
            ON {S}.remote_sessions (intervention_id, started_at);
        CREATE INDEX remote_sessions_org_idx ON {S}.remote_sessions (org_id);

        CREATE TABLE {S}.org_directory (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL,
            type text NOT NULL,
            status text NOT NULL,
            settings jsonb NOT NULL DEFAULT '{{}}',
            version integer NOT NULL
        );
        """
    )
    for table in ("interventions", "work_log", "remote_sessions"):
        enable_tenant_rls(S, table)
    enable_tenant_rls(S, "org_directory", column="id")
    grant(S, "interventions", ["SELECT", "INSERT", "UPDATE"])
    grant(S, "work_log", ["SELECT", "INSERT"])
    grant(S, "remote_sessions", ["SELECT", "INSERT", "UPDATE"])
    grant(S, "org_directory", ["SELECT", "INSERT", "UPDATE"])
    create_grant_projection(S)
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(
        f"DROP TABLE {S}.inbox, {S}.outbox, {S}.technician_grants, {S}.org_directory, "
        f"{S}.remote_sessions, {S}.work_log, {S}.interventions"
    )
