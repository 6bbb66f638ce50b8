"""A service's projection of technician access grants, kept from technician_access.* events
and refreshed from the owner's internal endpoint (`RefreshedGrantLookup`).

Events may arrive out of order or twice, and a fetched record may be older or newer than
the last event: each row keeps the version of the newest state applied, and an older one
never overwrites it (a late `granted` cannot revive a revoked grant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Integer, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import SQLModel

from mss_contracts.access import GrantStatus, GrantTerms
from mss_contracts.events import (
    EventEnvelope,
    TechnicianAccessExpired,
    TechnicianAccessGranted,
    TechnicianAccessRevoked,
    parse_data,
)
from mss_contracts.internal import TechnicianGrants
from mss_db import UnitOfWork
from mss_db.migrations import enable_tenant_rls, grant, run_sql
from mss_db.tables import TIMESTAMPTZ

GRANT_BINDINGS = ["technician_access.*"]
TABLE = "technician_grants"
# Who owns grants, and where it answers a technician's grants to the other services.
GRANTS_OWNER = "organization"
GRANTS_PATH = "/internal/technicians/{id}/grants"
# What a `granted` event sets and an ending event (which names none of them) leaves as it was.
TERMS = ("expires_at", "allowed_services", "ip_restrictions", "time_restrictions")


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


@cache
def grant_projection_table(schema: str) -> Table:
    """`<schema>.technician_grants` as `create_grant_projection` makes it."""
    # none_as_null: an ended grant's missing terms are SQL NULL (the upsert keeps the known
    # terms through COALESCE), not the JSON value null.
    return Table(
        TABLE,
        SQLModel.metadata,
        Column("id", Uuid, primary_key=True),
        Column("org_id", Uuid, nullable=False),
        Column("technician_id", Uuid, nullable=False),
        Column("status", Text, nullable=False),
        Column("expires_at", TIMESTAMPTZ),
        Column("allowed_services", JSONB(none_as_null=True)),
        Column("ip_restrictions", JSONB(none_as_null=True)),
        Column("time_restrictions", JSONB(none_as_null=True)),
        Column("version", Integer, nullable=False),
        Column("updated_at", TIMESTAMPTZ, nullable=False),
        schema=schema,
    )


@dataclass(frozen=True, slots=True)
class GrantState:
    """A grant as one event or one fetched record states it; the terms stay None when the
    source does not name them (an ending event), and the stored ones are kept."""

    id: UUID
    org_id: UUID
    technician_id: UUID
    status: GrantStatus
    version: int
    expires_at: datetime | None = None
    allowed_services: list[str] | None = None
    ip_restrictions: list[str] | None = None
    time_restrictions: dict[str, Any] | None = None


async def record_grant(uow: UnitOfWork, grant: GrantState) -> None:
    """The projection's one write, version-guarded: events and fetches both come here."""
    table = grant_projection_table(uow.schema)
    statement = insert(table).values(
        id=grant.id,
        org_id=grant.org_id,
        technician_id=grant.technician_id,
        status=grant.status.value,
        version=grant.version,
        **{name: getattr(grant, name) for name in TERMS},
    )
    new = statement.excluded
    await uow.conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={
                "status": new.status,
                **{name: func.coalesce(new[name], table.c[name]) for name in TERMS},
                "version": new.version,
                "updated_at": func.now(),
            },
            where=table.c.version < new.version,
        )
    )


async def apply_grant_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Consumer effect for GRANT_BINDINGS (run under an all-organizations scope)."""
    data = parse_data(envelope)
    if envelope.organization_id is None:
        return
    terms: GrantTerms | None = None
    if isinstance(data, TechnicianAccessGranted):
        status, terms = GrantStatus.ACTIVE, data
    elif isinstance(data, TechnicianAccessRevoked):
        status = GrantStatus.REVOKED
    elif isinstance(data, TechnicianAccessExpired):
        status = GrantStatus.EXPIRED
    else:
        return
    await record_grant(
        uow,
        _state(
            grant_id=envelope.aggregate_id,
            org_id=envelope.organization_id,
            technician_id=data.technician_id,
            status=status,
            version=envelope.metadata.version,
            terms=terms,
        ),
    )


async def record_technician_grants(uow: UnitOfWork, fetched: TechnicianGrants) -> None:
    """A fetched `GET /internal/technicians/{id}/grants`: every grant, version-guarded."""
    for record in fetched.grants:
        await record_grant(
            uow,
            _state(
                grant_id=record.id,
                org_id=record.organization_id,
                technician_id=record.technician_id,
                status=record.status,
                version=record.version,
                terms=record,
            ),
        )


def _state(
    *,
    grant_id: UUID,
    org_id: UUID,
    technician_id: UUID,
    status: GrantStatus,
    version: int,
    terms: GrantTerms | None,
) -> GrantState:
    if terms is None:
        return GrantState(grant_id, org_id, technician_id, status, version)
    window = terms.time_restrictions
    return GrantState(
        grant_id,
        org_id,
        technician_id,
        status,
        version,
        expires_at=terms.expires_at,
        allowed_services=terms.allowed_services,
        ip_restrictions=terms.ip_restrictions,
        time_restrictions=window.model_dump(mode="json", by_alias=True) if window else None,
    )
