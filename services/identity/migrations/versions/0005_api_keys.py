"""API keys for integrations: an explicit subset of permissions for one organization

Revision ID: 0005
Revises: 0004
"""

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "identity"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.api_keys (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            name varchar(100),
            key_prefix varchar(16) NOT NULL,
            key_hash varchar(64) NOT NULL UNIQUE,
            permissions text[] NOT NULL,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz
        );
        CREATE INDEX api_keys_org_idx ON {S}.api_keys (org_id);
        """
    )
    enable_tenant_rls(S, "api_keys")
    grant(S, "api_keys", ["SELECT", "INSERT", "UPDATE"])


def downgrade() -> None:
    run_sql(f"DROP TABLE {S}.api_keys")
