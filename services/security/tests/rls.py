"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    alert, comment, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.alerts (id, org_id, title, severity, category, source, fingerprint, "
        "first_seen_at, last_seen_at) VALUES ($1, $2, 'rls test', 3, 'malware', 'edr', $3, "
        "now(), now())",
        alert,
        org,
        alert.hex,
    )
    await conn.execute(
        "INSERT INTO security.alert_comments (id, org_id, alert_id, author_id, body, visibility) "
        "VALUES ($1, $2, $3, $4, 'seen', 'internal')",
        comment,
        org,
        alert,
        user,
    )
    await conn.execute(
        "INSERT INTO security.user_directory (user_id, org_id, role, status, version) "
        "VALUES ($1, $2, 'security_analyst', 'active', 1)",
        user,
        org,
    )
    await conn.execute(
        "INSERT INTO security.org_directory (org_id, type, status, alert_quota_per_minute, "
        "version) VALUES ($1, 'customer', 'active', 6000, 1)",
        org,
    )
    indicator = uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.org_indicators (org_id, id, type, value, net, confidence, tlp) "
        "VALUES ($1, $2, 'cidr', '10.9.8.0/24', '10.9.8.0/24', 50, 'amber')",
        org,
        indicator,
    )
    job, hunt = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.intel_imports (id, org_id, content_type) VALUES ($1, $2, 'csv')",
        job,
        org,
    )
    await conn.execute(
        "INSERT INTO security.intel_hunts (id, org_id, indicator_ids) VALUES ($1, $2, $3)",
        hunt,
        org,
        [indicator],
    )
    return {
        "alerts": [alert],
        "org_indicators": [indicator],
        "intel_imports": [job],
        "intel_hunts": [hunt],
        "alert_comments": [comment],
        "user_directory": [user],
        "org_directory": [org],
    }


RLS = ServiceRls(
    tables=(
        TenantTable("alerts"),
        TenantTable("alert_comments"),
        TenantTable("user_directory", key="user_id"),
        TenantTable("org_directory", key="org_id"),
        TenantTable("org_indicators"),
        TenantTable("intel_imports"),
        TenantTable("intel_hunts"),
    ),
    seed=_seed,
    write_for_other=(
        "INSERT INTO security.alerts (id, org_id, title, severity, category, source, fingerprint, "
        "first_seen_at, last_seen_at) VALUES (gen_random_uuid(), $1, 'B2', 1, 'other', 's', 'f', "
        "now(), now())"
    ),
    update_of_tenant="UPDATE security.alerts SET title = title || '.' WHERE org_id = $1",
)
