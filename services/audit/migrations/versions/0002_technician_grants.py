"""Projection of technician access grants: which customer orgs a technician reaches

Revision ID: 0002
Revises: 0001
"""

from mss_db.migrations import run_sql
from mss_grants import create_grant_projection

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_grant_projection("audit")


def downgrade() -> None:
    run_sql("DROP TABLE audit.technician_grants")
