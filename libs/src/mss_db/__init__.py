"""PostgreSQL access: engines, tenant-scoped units of work, and the outbox writer."""

from mss_db.engine import create_engine
from mss_db.scope import OrgScope
from mss_db.uow import UnitOfWork, UnitOfWorkFactory

__all__ = ["OrgScope", "UnitOfWork", "UnitOfWorkFactory", "create_engine"]
