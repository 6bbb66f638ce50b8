"""users, sessions, organization directory, outbox and inbox

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "identity"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE {S}.org_directory (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL,
            type text NOT NULL,
            status text NOT NULL,
            settings jsonb NOT NULL DEFAULT '{{}}',
            version integer NOT NULL
        );
        CREATE TABLE {S}.users (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            email varchar(255) NOT NULL,
            password_hash varchar(255),
            first_name varchar(100) NOT NULL,
            last_name varchar(100) NOT NULL,
            role text NOT NULL,
            status text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'invited', 'inactive')),
            mfa_enabled boolean NOT NULL DEFAULT false,
            mfa_secret varchar(255),
            mfa_backup_codes text[],
            email_verified boolean NOT NULL DEFAULT false,
            last_login_at timestamptz,
            last_login_ip inet,
            failed_login_attempts integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid,
            UNIQUE (org_id, email)
        );
        CREATE INDEX users_email_idx ON {S}.users (lower(email));
        CREATE INDEX users_org_idx ON {S}.users (org_id, created_at DESC);
        CREATE TABLE {S}.user_sessions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES {S}.users (id),
            org_id uuid NOT NULL,
            refresh_token_hash varchar(255) NOT NULL,
            device_fingerprint varchar(255),
            ip_address inet,
            user_agent text,
            status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'expired')),
            expires_at timestamptz NOT NULL,
            last_used_at timestamptz NOT NULL DEFAULT now(),
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            revoked_reason varchar(255)
        );
        CREATE UNIQUE INDEX user_sessions_refresh_idx ON {S}.user_sessions (refresh_token_hash);
        CREATE INDEX user_sessions_user_idx ON {S}.user_sessions (user_id, status);
        CREATE INDEX user_sessions_org_idx ON {S}.user_sessions (org_id);
        """
    )
    enable_tenant_rls(S, "users")
    enable_tenant_rls(S, "user_sessions")
    enable_tenant_rls(S, "org_directory", column="id")
    grant(S, "users", ["SELECT", "INSERT", "UPDATE"])
    grant(S, "user_sessions", ["SELECT", "INSERT", "UPDATE"])
    grant(S, "org_directory", ["SELECT", "INSERT", "UPDATE"])
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.inbox, {S}.outbox, {S}.user_sessions, {S}.users, {S}.org_directory")
