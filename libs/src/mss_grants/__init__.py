"""Technician access grants as every service sees them: the table, its upkeep, the lookup.

The organization service owns grants; each service that scopes technicians keeps a
projection (`<schema>.technician_grants`) from the technician_access.* events and answers
"which organizations does this technician reach now, from here" from it.
"""

from mss_grants.lookup import TableGrantLookup
from mss_grants.projection import (
    GRANT_BINDINGS,
    apply_grant_event,
    create_grant_projection,
    grant_projection_table,
)

__all__ = [
    "GRANT_BINDINGS",
    "TableGrantLookup",
    "apply_grant_event",
    "create_grant_projection",
    "grant_projection_table",
]
