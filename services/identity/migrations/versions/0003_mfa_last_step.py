"""remember the last TOTP step accepted, so a code works once (RFC 6238 §5.2)

Revision ID: 0003
Revises: 0002
"""

from mss_db.migrations import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "identity"


def upgrade() -> None:
    run_sql(f"ALTER TABLE {S}.users ADD COLUMN mfa_last_step bigint NOT NULL DEFAULT 0")


def downgrade() -> None:
    run_sql(f"ALTER TABLE {S}.users DROP COLUMN mfa_last_step")
