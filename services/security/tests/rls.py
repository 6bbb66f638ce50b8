"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    item = uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.items (id, org_id, name) VALUES ($1, $2, 'seeded')", item, org
    )
    return {"items": [item]}


RLS = ServiceRls(
    tables=(TenantTable("items"),),
    seed=_seed,
    write_for_other=(
        "INSERT INTO security.items (id, org_id, name) VALUES (gen_random_uuid(), $1, 'other')"
    ),
)
