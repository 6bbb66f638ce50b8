"""technician access grants, remote access sessions and the staff directory

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "organization"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.technician_access (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            technician_id uuid NOT NULL,
            access_level text NOT NULL
                CHECK (access_level IN ('read_only', 'standard', 'full')),
            granted_by uuid NOT NULL,
            granted_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            revoked_by uuid,
            revoked_reason varchar(255),
            allowed_services jsonb NOT NULL,
            ip_restrictions jsonb NOT NULL DEFAULT '[]',
            time_restrictions jsonb,
            status text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'revoked', 'expired')),
            notes text,
            version integer NOT NULL DEFAULT 1
        );
        CREATE INDEX technician_access_technician_active_idx
            ON {S}.technician_access (technician_id) WHERE status = 'active';
        CREATE INDEX technician_access_org_status_idx
            ON {S}.technician_access (org_id, status);
        CREATE INDEX technician_access_expiry_idx
            ON {S}.technician_access (expires_at) WHERE status = 'active';
        CREATE INDEX technician_access_granted_at_idx
            ON {S}.technician_access (granted_at DESC, id);

        CREATE TABLE {S}.remote_access_sessions (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            technician_id uuid NOT NULL,
            grant_id uuid NOT NULL REFERENCES {S}.technician_access (id),
            service varchar(50) NOT NULL,
            justification text NOT NULL,
            intervention_id uuid,
            client_ip text,
            status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
            started_at timestamptz NOT NULL DEFAULT now(),
            ended_at timestamptz,
            ended_by uuid,
            ended_reason varchar(255),
            version integer NOT NULL DEFAULT 1
        );
        CREATE INDEX remote_access_sessions_grant_active_idx
            ON {S}.remote_access_sessions (grant_id) WHERE status = 'active';
        CREATE INDEX remote_access_sessions_org_idx
            ON {S}.remote_access_sessions (org_id, started_at DESC);
        CREATE INDEX remote_access_sessions_technician_idx
            ON {S}.remote_access_sessions (technician_id, started_at DESC);

        CREATE TABLE {S}.staff_directory (
            user_id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            role text,
            status text NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    for table in ("technician_access", "remote_access_sessions", "staff_directory"):
        enable_tenant_rls(S, table)
        grant(S, table, ["SELECT", "INSERT", "UPDATE"])


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.remote_access_sessions, {S}.technician_access, {S}.staff_directory")
