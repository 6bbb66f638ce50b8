"""an index for a provider analyst's all-organizations list by severity

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "security"


def upgrade() -> None:
    # Every other sort an analyst can ask of all organizations at once has an index without
    # org_id (last_seen_at in 0001, first_seen_at in 0003); `-severity` had none, so at 1 M
    # alerts each such page sorted the whole table (5 s at load 4 in `scripts/bench
    # alerts-list`, holding a pooled connection the other requests queued behind).
    op.execute(
        f"CREATE INDEX alerts_severity_idx ON {S}.alerts (severity DESC, last_seen_at DESC, id DESC)"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {S}.alerts_severity_idx")
