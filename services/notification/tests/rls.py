"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    delivery = uuid.uuid4()
    await conn.execute(
        "INSERT INTO notification.mail_deliveries "
        "(id, event_id, org_id, recipient, template, status, attempts) "
        "VALUES ($1, $2, $3, 'ada@example.com', 'invitation', 'sent', 1)",
        delivery,
        uuid.uuid4(),
        org,
    )
    return {"mail_deliveries": [delivery]}


RLS = ServiceRls(
    tables=(TenantTable("mail_deliveries"),),
    seed=_seed,
    write_for_other=(
        "INSERT INTO notification.mail_deliveries "
        "(id, event_id, org_id, recipient, template, status, attempts) "
        "VALUES (gen_random_uuid(), gen_random_uuid(), $1, 'b@example.com', 'invitation', "
        "'sent', 1)"
    ),
)
