"""Projection of technician access grants: which customer orgs a technician reaches

Revision ID: 0006
Revises: 0005
"""

from mss_db.migrations import run_sql
from mss_grants import create_grant_projection

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_grant_projection("identity")


def downgrade() -> None:
    run_sql("DROP TABLE identity.technician_grants")
