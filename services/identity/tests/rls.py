"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable, seed_grant


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    await conn.execute(
        "INSERT INTO identity.org_directory (id, name, type, status, version) "
        "VALUES ($1, 'Tenant', 'customer', 'active', 1)",
        org,
    )
    users = [uuid.uuid4(), uuid.uuid4()]
    for user in users:
        await conn.execute(
            "INSERT INTO identity.users (id, org_id, email, first_name, last_name, role) "
            "VALUES ($1, $2, $3, 'Ada', 'Tenant', 'basic_user')",
            user,
            org,
            f"{user.hex[:10]}@example.com",
        )
    session = uuid.uuid4()
    await conn.execute(
        "INSERT INTO identity.user_sessions (id, user_id, org_id, refresh_token_hash, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        session,
        users[0],
        org,
        secrets.token_hex(32),
        datetime.now(UTC) + timedelta(hours=1),
    )
    token = secrets.token_hex(32)
    await conn.execute(
        "INSERT INTO identity.refresh_tokens (token_hash, session_id, org_id) VALUES ($1, $2, $3)",
        token,
        session,
        org,
    )
    user_token = secrets.token_hex(32)
    await conn.execute(
        "INSERT INTO identity.user_tokens (token_hash, user_id, org_id, purpose, expires_at) "
        "VALUES ($1, $2, $3, 'invitation', $4)",
        user_token,
        users[1],
        org,
        datetime.now(UTC) + timedelta(days=7),
    )
    api_key = uuid.uuid4()
    await conn.execute(
        "INSERT INTO identity.api_keys (id, org_id, name, key_prefix, key_hash, permissions) "
        "VALUES ($1, $2, 'siem', 'abcd1234', $3, ARRAY['alerts:create'])",
        api_key,
        org,
        secrets.token_hex(32),
    )
    return {
        "technician_grants": [await seed_grant(conn, "identity", org)],
        "org_directory": [org],
        "users": list(users),
        "user_sessions": [session],
        "refresh_tokens": [token],
        "user_tokens": [user_token],
        "api_keys": [api_key],
    }


RLS = ServiceRls(
    tables=(
        TenantTable("users"),
        TenantTable("user_sessions"),
        TenantTable("org_directory", tenant_column="id"),
        TenantTable("refresh_tokens", key="token_hash"),
        TenantTable("user_tokens", key="token_hash"),
        TenantTable("api_keys"),
        TenantTable("technician_grants"),
    ),
    seed=_seed,
    write_for_other=(
        "INSERT INTO identity.users (id, org_id, email, first_name, last_name, role) "
        "VALUES (gen_random_uuid(), $1, 'b2@example.com', 'B', 'Two', 'basic_user')"
    ),
    update_of_tenant="UPDATE identity.users SET first_name = 'Eve' WHERE org_id = $1",
)
