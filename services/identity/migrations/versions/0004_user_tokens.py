"""single-use user tokens (invitation, password reset, email verification), hashed

Revision ID: 0004
Revises: 0003
"""

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "identity"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.user_tokens (
            token_hash varchar(64) PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES {S}.users (id),
            org_id uuid NOT NULL,
            purpose text NOT NULL
                CHECK (purpose IN ('invitation', 'password_reset', 'email_verification')),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX user_tokens_user_idx ON {S}.user_tokens (user_id, purpose);
        """
    )
    enable_tenant_rls(S, "user_tokens")
    grant(S, "user_tokens", ["SELECT", "INSERT", "UPDATE"])


def downgrade() -> None:
    run_sql(f"DROP TABLE {S}.user_tokens")
