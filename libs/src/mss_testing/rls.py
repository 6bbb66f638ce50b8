"""What each service tells the shared row-level-security test about its tenant tables.

Every registered service keeps a `tests/rls.py` with `RLS = ServiceRls(...)`: its tenant
tables, how to write one tenant's rows into them as its app role, and a write the policy
must refuse. `libs/tests/integration/test_rls.py` loads them through the registry, so a
new service's tables are covered by adding that one file (`scripts/new-service` does).
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from mss_settings.registry import ServiceSpec

Seeder = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[dict[str, list[object]]]]


@dataclass(frozen=True, slots=True)
class TenantTable:
    name: str
    tenant_column: str = "org_id"  # the column the policy compares with the scope
    key: str = "id"  # what tells its rows apart


@dataclass(frozen=True, slots=True)
class ServiceRls:
    """`seed(conn, org)` runs inside a transaction scoped to `org` and returns, per table
    name, the keys of the rows it wrote. `write_for_other` inserts a row of tenant `$1`;
    `update_of_tenant` (optional) updates tenant `$1`'s rows."""

    tables: tuple[TenantTable, ...]
    seed: Seeder
    write_for_other: str
    update_of_tenant: str | None = None


def load(spec: ServiceSpec) -> ServiceRls:
    """The `RLS` of `services/<name>/tests/rls.py` (AssertionError when it is missing)."""
    path = spec.directory / "tests" / "rls.py"
    assert path.is_file(), f"{spec.name}: {path} is missing (every service declares its RLS)"
    module_spec = importlib.util.spec_from_file_location(f"{spec.package}_tests_rls", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    rls = getattr(module, "RLS", None)
    assert isinstance(rls, ServiceRls), f"{path} defines no RLS = ServiceRls(...)"
    return rls


async def seed_grant(conn: asyncpg.Connection, schema: str, org: uuid.UUID) -> uuid.UUID:
    """One row of a service's projection of technician access grants (mss_grants)."""
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
