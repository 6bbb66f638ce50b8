"""every grant of a technician, whatever its state: an index for the internal read

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from mss_db.migrations import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "organization"


def upgrade() -> None:
    # GET /internal/technicians/{id}/grants answers all of a technician's grants, ended
    # ones too, every couple of seconds per technician and calling process: the partial
    # index on active grants alone would leave that to a scan of the table.
    run_sql(
        f"CREATE INDEX technician_access_technician_idx "
        f"ON {S}.technician_access (technician_id, granted_at)"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {S}.technician_access_technician_idx")
