"""A service's projection of technician access grants, kept from technician_access.* events.

Events may arrive out of order or twice: each row keeps the version of the newest event
applied, and an older event never overwrites it (a late `granted` cannot revive a revoked
grant).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Column, Integer, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import SQLModel

from mss_contracts.access import GrantStatus
from mss_contracts.events import (
    EventEnvelope,
    TechnicianAccessExpired,
    TechnicianAccessGranted,
    TechnicianAccessRevoked,
    parse_data,
)
from mss_db import UnitOfWork
from mss_db.migrations import enable_tenant_rls, grant, run_sql
from mss_db.tables import TIMESTAMPTZ

GRANT_BINDINGS = ["technician_access.*"]
TABLE = "technician_grants"
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


async def apply_grant_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Consumer effect for GRANT_BINDINGS (run under an all-organizations scope)."""
    data = parse_data(envelope)
    if isinstance(data, TechnicianAccessGranted):
        terms = {
            "status": GrantStatus.ACTIVE.value,
            "expires_at": data.expires_at,
            "allowed_services": data.allowed_services,
            "ip_restrictions": data.ip_restrictions,
            "time_restrictions": (
                data.time_restrictions.model_dump(mode="json", by_alias=True)
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
    table = grant_projection_table(uow.schema)
    statement = insert(table).values(
        id=envelope.aggregate_id,
        org_id=envelope.organization_id,
        technician_id=data.technician_id,
        version=envelope.metadata.version,
        **terms,
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


def _ended(status: GrantStatus) -> dict[str, object]:
    return {"status": status.value, **dict.fromkeys(TERMS)}
