"""Technician access grants as every service sees them: the table, its upkeep, the lookup.

The organization service owns grants; each service that scopes technicians keeps a
projection (`<schema>.technician_grants`) from the technician_access.* events, refreshed
from the owner's `GET /internal/technicians/{id}/grants`, and answers "which organizations
does this technician reach now, from here" from it.
"""

from mss_grants.lookup import RefreshedGrantLookup, TableGrantLookup
from mss_grants.projection import (
    GRANT_BINDINGS,
    GRANTS_OWNER,
    GRANTS_PATH,
    TABLE,
    GrantState,
    apply_grant_event,
    create_grant_projection,
    grant_projection_table,
    record_grant,
    record_technician_grants,
)

__all__ = [
    "GRANTS_OWNER",
    "GRANTS_PATH",
    "GRANT_BINDINGS",
    "TABLE",
    "GrantState",
    "RefreshedGrantLookup",
    "TableGrantLookup",
    "apply_grant_event",
    "create_grant_projection",
    "grant_projection_table",
    "record_grant",
    "record_technician_grants",
]
