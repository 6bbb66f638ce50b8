"""refresh tokens: every issued one is remembered, so a rotated one can be recognised

Revision ID: 0002
Revises: 0001
"""

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "identity"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.refresh_tokens (
            token_hash varchar(64) PRIMARY KEY,
            session_id uuid NOT NULL REFERENCES {S}.user_sessions (id),
            org_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            rotated_at timestamptz
        );
        CREATE INDEX refresh_tokens_session_idx ON {S}.refresh_tokens (session_id);
        """
    )
    enable_tenant_rls(S, "refresh_tokens")
    grant(S, "refresh_tokens", ["SELECT", "INSERT", "UPDATE"])


def downgrade() -> None:
    run_sql(f"DROP TABLE {S}.refresh_tokens")
