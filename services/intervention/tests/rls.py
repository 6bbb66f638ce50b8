"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable, seed_grant

_INTERVENTION = (
    "INSERT INTO intervention.interventions (id, org_id, title, description, priority, type, "
    "status, response_due_at, resolution_due_at) "
    "VALUES ($1, $2, 't', 'd', 'low', 'other', 'requested', now(), now())"
)


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    await conn.execute(
        "INSERT INTO intervention.org_directory (id, name, type, status, version) "
        "VALUES ($1, 'Tenant', 'customer', 'active', 1)",
        org,
    )
    intervention, entry, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute(_INTERVENTION, intervention, org)
    await conn.execute(
        "INSERT INTO intervention.work_log (id, org_id, intervention_id, user_id, at, quarters) "
        "VALUES ($1, $2, $3, gen_random_uuid(), now(), 4)",
        entry,
        org,
        intervention,
    )
    await conn.execute(
        "INSERT INTO intervention.remote_sessions (id, org_id, intervention_id, technician_id, "
        "service, status, started_at, version) "
        "VALUES ($1, $2, $3, gen_random_uuid(), 'ssh', 'active', now(), 1)",
        session,
        org,
        intervention,
    )
    return {
        "interventions": [intervention],
        "work_log": [entry],
        "remote_sessions": [session],
        "org_directory": [org],
        "technician_grants": [await seed_grant(conn, "intervention", org)],
    }


RLS = ServiceRls(
    tables=(
        TenantTable("interventions"),
        TenantTable("work_log"),
        TenantTable("remote_sessions"),
        TenantTable("org_directory", tenant_column="id"),
        TenantTable("technician_grants"),
    ),
    seed=_seed,
    write_for_other=_INTERVENTION.replace("$1, $2", "gen_random_uuid(), $1"),
    update_of_tenant="UPDATE intervention.interventions SET title = 'Eve' WHERE org_id = $1",
)
