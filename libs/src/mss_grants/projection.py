"""A service's projection of technician access grants, kept from technician_access.* events.

Events may arrive out of order or twice: each row keeps the version of the newest event
applied, and an older event never overwrites it (a late `granted` cannot revive a revoked
grant).
"""

from __future__ import annotations

from sqlalchemy import text

from mss_contracts.access import GrantStatus
from mss_contracts.events import (
    EventEnvelope,
    TechnicianAccessExpired,
    TechnicianAccessGranted,
    TechnicianAccessRevoked,
    parse_data,
)
from mss_db import UnitOfWork
from mss_db.engine import json_dumps
from mss_db.migrations import enable_tenant_rls, grant, run_sql

GRANT_BINDINGS = ["technician_access.*"]
TABLE = "technician_grants"


def create_grant_projection(schema: str) -> None:
    """Migration step: the projection table, tenant RLS on it, rights for the app role."""
    run_sql(
        f"""
        CREATE TABLE {schema}.{TABLE} (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            technician_id uuid NOT NULL,
            status text NOT NULL,
            expires_at timestamptz,
            allowed_services jsonb,
            ip_restrictions jsonb,
            time_restrictions jsonb,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX {TABLE}_technician_idx ON {schema}.{TABLE} (technician_id)
            WHERE status = 'active';
        """
    )
    enable_tenant_rls(schema, TABLE)
    grant(schema, TABLE, ["SELECT", "INSERT", "UPDATE"])


async def apply_grant_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Consumer effect for GRANT_BINDINGS (run under an all-organizations scope)."""
    data = parse_data(envelope)
    if isinstance(data, TechnicianAccessGranted):
        terms = {
            "status": GrantStatus.ACTIVE.value,
            "expires_at": data.expires_at,
            "allowed_services": json_dumps(data.allowed_services),
            "ip_restrictions": json_dumps(data.ip_restrictions),
            "time_restrictions": (
                json_dumps(data.time_restrictions.model_dump(by_alias=True))
                if data.time_restrictions
                else None
            ),
        }
    elif isinstance(data, TechnicianAccessRevoked):
        terms = _ended(GrantStatus.REVOKED)
    elif isinstance(data, TechnicianAccessExpired):
        terms = _ended(GrantStatus.EXPIRED)
    else:
        return
    if envelope.organization_id is None:
        return
    technician_id = data.technician_id
    await uow.conn.execute(
        text(
            f"INSERT INTO {uow.schema}.{TABLE} AS g "  # noqa: S608 - our own identifiers
            "(id, org_id, technician_id, status, expires_at, allowed_services, "
            " ip_restrictions, time_restrictions, version) "
            "VALUES (:id, :org_id, :technician_id, :status, :expires_at, "
            " CAST(:allowed_services AS jsonb), CAST(:ip_restrictions AS jsonb), "
            " CAST(:time_restrictions AS jsonb), :version) "
            "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
            " expires_at = COALESCE(EXCLUDED.expires_at, g.expires_at), "
            " allowed_services = COALESCE(EXCLUDED.allowed_services, g.allowed_services), "
            " ip_restrictions = COALESCE(EXCLUDED.ip_restrictions, g.ip_restrictions), "
            " time_restrictions = COALESCE(EXCLUDED.time_restrictions, g.time_restrictions), "
            " version = EXCLUDED.version, updated_at = now() "
            "WHERE g.version < EXCLUDED.version"
        ),
        {
            "id": envelope.aggregate_id,
            "org_id": envelope.organization_id,
            "technician_id": technician_id,
            "version": envelope.metadata.version,
            **terms,
        },
    )


def _ended(status: GrantStatus) -> dict[str, object]:
    return {
        "status": status.value,
        "expires_at": None,
        "allowed_services": None,
        "ip_restrictions": None,
        "time_restrictions": None,
    }
