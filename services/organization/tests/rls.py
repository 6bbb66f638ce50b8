"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    await conn.execute(
        "INSERT INTO organization.organizations (id, name, type) VALUES ($1, $2, 'customer')",
        org,
        f"Tenant {org.hex[:6]}",
    )
    grant, session, staff = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO organization.technician_access (id, org_id, technician_id, access_level, "
        "granted_by, expires_at, allowed_services) "
        "VALUES ($1, $2, $3, 'standard', $3, $4, '[\"ssh\"]')",
        grant,
        org,
        staff,
        datetime.now(UTC) + timedelta(hours=1),
    )
    await conn.execute(
        "INSERT INTO organization.remote_access_sessions (id, org_id, technician_id, grant_id, "
        "service, justification) VALUES ($1, $2, $3, $4, 'ssh', 'rls test')",
        session,
        org,
        staff,
        grant,
    )
    await conn.execute(
        "INSERT INTO organization.staff_directory (user_id, org_id, role, status, version) "
        "VALUES ($1, $2, 'technician', 'active', 1)",
        staff,
        org,
    )
    return {
        "organizations": [org],
        "technician_access": [grant],
        "remote_access_sessions": [session],
        "staff_directory": [staff],
    }


RLS = ServiceRls(
    tables=(
        TenantTable("organizations", tenant_column="id"),
        TenantTable("technician_access"),
        TenantTable("remote_access_sessions"),
        TenantTable("staff_directory", key="user_id"),
    ),
    seed=_seed,
    write_for_other=(
        "INSERT INTO organization.organizations (id, name, type) VALUES ($1, 'B2', 'customer')"
    ),
    update_of_tenant="UPDATE organization.organizations SET name = name || '.' WHERE id = $1",
)
