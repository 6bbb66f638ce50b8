"""Row-level security as the services' own database roles see it (raw SQL, no repository).

Rows of two tenants A and B go into every tenant table through the service's app role,
each under its own tenant's scope. Then a raw `SELECT *` as the app role returns A's rows
only under A's scope, no row at all without a scope, and both tenants' rows with
`app.all_orgs = on`; and nothing lets the app role step around the policy.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from mss_audit.domain.chain import GENESIS, AuditEntry, entry_hash
from mss_db.migrations import app_role, owner_role
from mss_settings import PlatformSettings, role_database_url

pytestmark = pytest.mark.integration

SERVICES = ("organization", "identity", "audit", "notification")


@dataclass(frozen=True, slots=True)
class TenantTable:
    schema: str
    name: str
    tenant_column: str  # the column the policy compares with the scope
    key: str  # what tells its rows apart

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


TENANT_TABLES = (
    TenantTable("organization", "organizations", "id", "id"),
    TenantTable("organization", "technician_access", "org_id", "id"),
    TenantTable("organization", "remote_access_sessions", "org_id", "id"),
    TenantTable("organization", "staff_directory", "org_id", "user_id"),
    TenantTable("identity", "users", "org_id", "id"),
    TenantTable("identity", "user_sessions", "org_id", "id"),
    TenantTable("identity", "org_directory", "id", "id"),
    TenantTable("identity", "refresh_tokens", "org_id", "token_hash"),
    TenantTable("identity", "user_tokens", "org_id", "token_hash"),
    TenantTable("identity", "api_keys", "org_id", "id"),
    TenantTable("identity", "technician_grants", "org_id", "id"),
    TenantTable("audit", "events", "org_id", "id"),
    TenantTable("audit", "audit_logs", "org_id", "id"),
    TenantTable("audit", "technician_grants", "org_id", "id"),
    TenantTable("notification", "mail_deliveries", "org_id", "id"),
)


def _dsn(settings: PlatformSettings, role: str) -> str:
    url = make_url(role_database_url(settings, role)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _connect_as(settings: PlatformSettings, role: str) -> asyncpg.Connection:
    return await asyncpg.connect(_dsn(settings, role))


async def _scope(conn: asyncpg.Connection, *, org_ids: str = "", all_orgs: str = "off") -> None:
    """What a unit of work does: transaction-local settings (call inside a transaction)."""
    await conn.execute(
        "SELECT set_config('app.org_ids', $1, true), set_config('app.all_orgs', $2, true)",
        org_ids,
        all_orgs,
    )


# --- writing one tenant's rows, as each service's app role, under that tenant's scope ------

Seeder = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[dict[str, list[object]]]]


async def _seed_organization(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
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


async def _seed_identity(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
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
        "technician_grants": [await _seed_grant(conn, "identity", org)],
        "org_directory": [org],
        "users": list(users),
        "user_sessions": [session],
        "refresh_tokens": [token],
        "user_tokens": [user_token],
        "api_keys": [api_key],
    }


async def _seed_grant(conn: asyncpg.Connection, schema: str, org: uuid.UUID) -> uuid.UUID:
    """One row of a service's projection of technician access grants."""
    grant = uuid.uuid4()
    await conn.execute(
        f"INSERT INTO {schema}.technician_grants "  # noqa: S608 - our own schema names
        "(id, org_id, technician_id, status, expires_at, allowed_services, ip_restrictions, "
        "version) VALUES ($1, $2, $3, 'active', $4, '[\"ssh\"]', '[]', 1)",
        grant,
        org,
        uuid.uuid4(),
        datetime.now(UTC) + timedelta(hours=1),
    )
    return grant


async def _seed_audit(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    """Two events and their audit entries, chained as the audit service would chain them."""
    events: list[object] = []
    logs: list[object] = []
    prev_hash = GENESIS
    for seq in (1, 2):
        entry = AuditEntry(
            id=uuid.uuid4(),
            event_id=uuid.uuid4(),
            user_id=None,
            session_id=None,
            org_id=org,
            action="user.created",
            resource_type="user",
            resource_id=uuid.uuid4(),
            details={},
            ip_address=None,
            user_agent=None,
            success=True,
            error_message=None,
            timestamp=datetime.now(UTC),
        )
        await conn.execute(
            "INSERT INTO audit.events (id, type, aggregate_id, aggregate_type, org_id, data, "
            "metadata, schema_version, occurred_at) "
            "VALUES ($1, 'user.created', $2, 'user', $3, '{}', '{}', 1, $4)",
            entry.event_id,
            entry.resource_id,
            org,
            entry.timestamp,
        )
        link_hash = entry_hash(entry, seq=seq, prev_hash=prev_hash)
        await conn.execute(
            "INSERT INTO audit.audit_logs (id, event_id, org_id, action, resource_type, "
            "resource_id, details, timestamp, chain_key, seq, prev_hash, hash) "
            "VALUES ($1, $2, $3, 'user.created', 'user', $4, '{}', $5, $3, $6, $7, $8)",
            entry.id,
            entry.event_id,
            org,
            entry.resource_id,
            entry.timestamp,
            seq,
            prev_hash,
            link_hash,
        )
        prev_hash = link_hash
        events.append(entry.event_id)
        logs.append(entry.id)
    grants = [await _seed_grant(conn, "audit", org)]
    return {"events": events, "audit_logs": logs, "technician_grants": grants}


async def _seed_notification(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
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


SEEDERS: dict[str, Seeder] = {
    "organization": _seed_organization,
    "identity": _seed_identity,
    "audit": _seed_audit,
    "notification": _seed_notification,
}


@dataclass(frozen=True, slots=True)
class Tenants:
    a: uuid.UUID
    b: uuid.UUID
    rows: dict[tuple[str, uuid.UUID], list[object]]  # (qualified table, tenant) → row keys

    def of(self, table: TenantTable, tenant: uuid.UUID) -> set[object]:
        return set(self.rows[(table.qualified, tenant)])


@pytest.fixture(scope="module")
async def tenants(platform_settings: PlatformSettings) -> Tenants:
    a, b = uuid.uuid4(), uuid.uuid4()
    rows: dict[tuple[str, uuid.UUID], list[object]] = {}
    for service, seed in SEEDERS.items():
        conn = await _connect_as(platform_settings, app_role(service))
        try:
            for tenant in (a, b):
                async with conn.transaction():
                    await _scope(conn, org_ids=str(tenant))
                    for name, keys in (await seed(conn, tenant)).items():
                        rows[(f"{service}.{name}", tenant)] = keys
        finally:
            await conn.close()
    return Tenants(a=a, b=b, rows=rows)


# --- the catalog: every tenant table is covered, enabled and forced ------------------------


async def test_every_tenant_table_has_forced_rls_and_is_covered_here(
    admin_db: asyncpg.Connection,
) -> None:
    rows = await admin_db.fetch(
        """
        SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS enabled,
               c.relforcerowsecurity AS forced,
               array(SELECT p.polname FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r' AND c.relrowsecurity
        """,
        list(SERVICES),
    )
    assert {(r["schema"], r["name"]) for r in rows} == {
        (t.schema, t.name) for t in TENANT_TABLES
    }, "a table with RLS that this test does not cover, or a covered one that lost it"
    for row in rows:
        assert row["forced"], f"{row['schema']}.{row['name']} must FORCE row level security"
        assert row["policies"] == ["tenant_isolation"]
    # Every table holding an org_id is a tenant table.
    with_org_id = await admin_db.fetch(
        "SELECT table_schema, table_name FROM information_schema.columns "
        "WHERE table_schema = ANY($1::text[]) AND column_name = 'org_id'",
        list(SERVICES),
    )
    covered = {(t.schema, t.name) for t in TENANT_TABLES}
    assert {(r["table_schema"], r["table_name"]) for r in with_org_id} <= covered


# --- what the app role sees ----------------------------------------------------------------


@pytest.mark.parametrize("table", TENANT_TABLES, ids=lambda t: t.qualified)
async def test_app_role_sees_only_the_scoped_tenants_rows(
    table: TenantTable, tenants: Tenants, platform_settings: PlatformSettings
) -> None:
    select_all = f"SELECT * FROM {table.qualified}"  # noqa: S608 - our own table names
    conn = await _connect_as(platform_settings, app_role(table.schema))
    try:
        # No scope at all on a fresh connection: not a single row, of any tenant.
        assert await conn.fetch(select_all) == []

        async with conn.transaction():
            await _scope(conn, org_ids=str(tenants.a))
            scoped = await conn.fetch(select_all)
        assert {r[table.tenant_column] for r in scoped} == {tenants.a}
        assert {r[table.key] for r in scoped} == tenants.of(table, tenants.a)
        assert not {r[table.key] for r in scoped} & tenants.of(table, tenants.b)

        # The scope was transaction-local: on the same connection it is gone again.
        assert await conn.fetch(select_all) == []
        async with conn.transaction():
            assert await conn.fetch(select_all) == []
            await _scope(conn, org_ids="")  # an empty scope is no scope
            assert await conn.fetch(select_all) == []

        async with conn.transaction():
            await _scope(conn, org_ids=str(tenants.b))
            only_b = {r[table.key] for r in await conn.fetch(select_all)}
        assert only_b == tenants.of(table, tenants.b)

        async with conn.transaction():
            await _scope(conn, all_orgs="on")
            everything = {r[table.key] for r in await conn.fetch(select_all)}
        assert everything >= tenants.of(table, tenants.a) | tenants.of(table, tenants.b)
    finally:
        await conn.close()


WRITES_FOR_B = {
    "organization": (
        "INSERT INTO organization.organizations (id, name, type) VALUES ($1, 'B2', 'customer')"
    ),
    "identity": (
        "INSERT INTO identity.users (id, org_id, email, first_name, last_name, role) "
        "VALUES (gen_random_uuid(), $1, 'b2@example.com', 'B', 'Two', 'basic_user')"
    ),
    "audit": (
        "INSERT INTO audit.events (id, type, aggregate_id, aggregate_type, org_id, data, "
        "metadata, schema_version, occurred_at) "
        "VALUES (gen_random_uuid(), 'user.created', gen_random_uuid(), 'user', $1, '{}', '{}', "
        "1, now())"
    ),
    "notification": (
        "INSERT INTO notification.mail_deliveries "
        "(id, event_id, org_id, recipient, template, status, attempts) "
        "VALUES (gen_random_uuid(), gen_random_uuid(), $1, 'b@example.com', 'invitation', "
        "'sent', 1)"
    ),
}

UPDATES_OF_B = {
    "organization": "UPDATE organization.organizations SET name = name || '.' WHERE id = $1",
    "identity": "UPDATE identity.users SET first_name = 'Eve' WHERE org_id = $1",
}


@pytest.mark.parametrize("service", SERVICES)
async def test_app_role_cannot_write_rows_of_a_tenant_outside_its_scope(
    service: str, tenants: Tenants, platform_settings: PlatformSettings
) -> None:
    conn = await _connect_as(platform_settings, app_role(service))
    try:
        async with conn.transaction():
            await _scope(conn, org_ids=str(tenants.a))
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute(WRITES_FOR_B[service], tenants.b)
        update = UPDATES_OF_B.get(service)
        if update is not None:  # audit_app may not UPDATE at all (test_append_only)
            async with conn.transaction():
                await _scope(conn, org_ids=str(tenants.a))
                status = await conn.execute(update, tenants.b)
            assert status == "UPDATE 0", "B's rows are invisible, so not updatable, under A"
            async with conn.transaction():
                await _scope(conn, org_ids=str(tenants.b))
                assert await conn.execute(update, tenants.b) != "UPDATE 0"
    finally:
        await conn.close()


# --- the app role is neither owner nor privileged ------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_app_role_is_not_the_owner_and_cannot_bypass_rls(
    service: str,
    tenants: Tenants,
    platform_settings: PlatformSettings,
    admin_db: asyncpg.Connection,
) -> None:
    app, owner = app_role(service), owner_role(service)
    role = await admin_db.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, pg_has_role($1, $2, 'MEMBER') AS in_owner "
        "FROM pg_roles WHERE rolname = $1",
        app,
        owner,
    )
    assert role is not None
    assert dict(role) == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolcreaterole": False,
        "in_owner": False,
    }
    owners = await admin_db.fetch(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", service
    )
    assert {r["tableowner"] for r in owners} == {owner}
    schema_owner = await admin_db.fetchval(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", service
    )
    assert schema_owner == owner

    table = next(t for t in TENANT_TABLES if t.schema == service)
    conn = await _connect_as(platform_settings, app)
    try:
        assert await conn.fetchval("SELECT current_user") == app
        # Turning row security off makes a query that RLS would filter fail, not pass.
        await conn.execute("SET row_security = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.fetch(f"SELECT * FROM {table.qualified}")  # noqa: S608
        await conn.execute("RESET row_security")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner"):
            await conn.execute(f"ALTER TABLE {table.qualified} DISABLE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner"):
            await conn.execute(f"ALTER TABLE {table.qualified} NO FORCE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"SET ROLE {owner}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"DROP POLICY tenant_isolation ON {table.qualified}")
        assert await conn.fetch(f"SELECT * FROM {table.qualified}") == []  # noqa: S608
    finally:
        await conn.close()


# --- the same, as a property: any scope sees exactly its tenants' rows ----------------------

PROPERTY_TENANTS = 5


@dataclass(frozen=True, slots=True)
class World:
    tenants: list[uuid.UUID]
    rows: dict[tuple[str, uuid.UUID], set[object]]  # (qualified table, tenant) → row keys


@pytest.fixture(scope="module")
async def world(platform_settings: PlatformSettings) -> World:
    """Five tenants, each with rows in every tenant table of every service."""
    tenants = [uuid.uuid4() for _ in range(PROPERTY_TENANTS)]
    rows: dict[tuple[str, uuid.UUID], set[object]] = {}
    for service, seed in SEEDERS.items():
        conn = await _connect_as(platform_settings, app_role(service))
        try:
            for tenant in tenants:
                async with conn.transaction():
                    await _scope(conn, org_ids=str(tenant))
                    for name, keys in (await seed(conn, tenant)).items():
                        rows[(f"{service}.{name}", tenant)] = set(keys)
        finally:
            await conn.close()
    return World(tenants=tenants, rows=rows)


async def _visible(settings: PlatformSettings, org_ids: str) -> dict[str, set[object]]:
    """Row keys of every tenant table as each service's app role sees them under a scope."""
    seen: dict[str, set[object]] = {}
    for service in SERVICES:
        conn = await _connect_as(settings, app_role(service))
        try:
            async with conn.transaction():
                await _scope(conn, org_ids=org_ids)
                for table in (t for t in TENANT_TABLES if t.schema == service):
                    records = await conn.fetch(
                        f"SELECT {table.key} FROM {table.qualified}"  # noqa: S608 - ours
                    )
                    seen[table.qualified] = {r[table.key] for r in records}
        finally:
            await conn.close()
    return seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chosen=st.sets(st.integers(0, PROPERTY_TENANTS - 1), max_size=PROPERTY_TENANTS),
    strangers=st.lists(st.uuids(), max_size=3),
    shuffle=st.randoms(use_true_random=False),
)
def test_any_scope_sees_exactly_the_rows_of_its_tenants(
    world: World,
    platform_settings: PlatformSettings,
    chosen: set[int],
    strangers: list[uuid.UUID],
    shuffle: random.Random,
) -> None:
    """Under any set of tenants (plus organizations that have no rows, in any order), each
    app role sees every row of those tenants and not one row of any other."""
    scope = [world.tenants[i] for i in chosen] + strangers
    shuffle.shuffle(scope)
    seen = asyncio.run(_visible(platform_settings, ",".join(str(org) for org in scope)))
    for table in TENANT_TABLES:
        expected: set[object] = set()
        for i in chosen:
            expected |= world.rows[(table.qualified, world.tenants[i])]
        assert seen[table.qualified] == expected, table.qualified
