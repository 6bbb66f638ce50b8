"""Row-level security as the services' own database roles see it (raw SQL, no repository).

Rows of two tenants A and B go into every tenant table through the service's app role,
each under its own tenant's scope. Then a raw `SELECT *` as the app role returns A's rows
only under A's scope, no row at all without a scope, and both tenants' rows with
`app.all_orgs = on`; and nothing lets the app role step around the policy.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from mss_db.migrations import app_role, owner_role
from mss_settings import PlatformSettings, registry, role_database_url
from mss_testing.rls import TenantTable
from mss_testing.rls import load as load_rls

pytestmark = pytest.mark.integration

# Each registered service declares its tenant tables in its own tests/rls.py.
RLS_OF = {spec.schema: load_rls(spec) for spec in registry.services()}
SERVICES = tuple(RLS_OF)


@dataclass(frozen=True, slots=True)
class QualifiedTable:
    schema: str
    table: TenantTable

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def tenant_column(self) -> str:
        return self.table.tenant_column

    @property
    def key(self) -> str:
        return self.table.key

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table.name}"


TENANT_TABLES = tuple(
    QualifiedTable(schema, table) for schema, rls in RLS_OF.items() for table in rls.tables
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


@dataclass(frozen=True, slots=True)
class Tenants:
    a: uuid.UUID
    b: uuid.UUID
    rows: dict[tuple[str, uuid.UUID], list[object]]  # (qualified table, tenant) → row keys

    def of(self, table: QualifiedTable, tenant: uuid.UUID) -> set[object]:
        return set(self.rows[(table.qualified, tenant)])


@pytest.fixture(scope="module")
async def tenants(platform_settings: PlatformSettings) -> Tenants:
    a, b = uuid.uuid4(), uuid.uuid4()
    rows: dict[tuple[str, uuid.UUID], list[object]] = {}
    for service, rls in RLS_OF.items():
        conn = await _connect_as(platform_settings, app_role(service))
        try:
            for tenant in (a, b):
                async with conn.transaction():
                    await _scope(conn, org_ids=str(tenant))
                    for name, keys in (await rls.seed(conn, tenant)).items():
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
    table: QualifiedTable, tenants: Tenants, platform_settings: PlatformSettings
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


@pytest.mark.parametrize("service", SERVICES)
async def test_app_role_cannot_write_rows_of_a_tenant_outside_its_scope(
    service: str, tenants: Tenants, platform_settings: PlatformSettings
) -> None:
    conn = await _connect_as(platform_settings, app_role(service))
    try:
        async with conn.transaction():
            await _scope(conn, org_ids=str(tenants.a))
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute(RLS_OF[service].write_for_other, tenants.b)
        update = RLS_OF[service].update_of_tenant
        if update is not None:
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
    for service, rls in RLS_OF.items():
        conn = await _connect_as(platform_settings, app_role(service))
        try:
            for tenant in tenants:
                async with conn.transaction():
                    await _scope(conn, org_ids=str(tenant))
                    for name, keys in (await rls.seed(conn, tenant)).items():
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
