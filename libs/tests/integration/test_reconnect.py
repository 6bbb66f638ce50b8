"""No pre-ping: a pooled connection the server dropped is replaced on first use.

`create_engine` no longer pings every checkout; `begin_scoped` (every unit of work, the
grant lookup) retries its first statement once on a fresh connection when the pooled one
is dead. Here the server drops every connection of the pool (as a restart or failover
does) and the next units of work still succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mss_db import OrgScope, UnitOfWorkFactory
from mss_db.engine import create_engine
from mss_db.migrations import app_role
from mss_settings import PlatformSettings, role_database_url

pytestmark = pytest.mark.integration

SCHEMA = "organization"


@pytest.fixture
async def engine(platform_settings: PlatformSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(role_database_url(platform_settings, app_role(SCHEMA)), pool_size=2)
    yield engine
    await engine.dispose()


async def _backend(factory: UnitOfWorkFactory, hold: asyncio.Event | None = None) -> int:
    async with factory(OrgScope.everything()) as uow:
        pid = int((await uow.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        if hold is not None:
            await hold.wait()
        await uow.commit()
    return pid


async def _terminate(admin_db: asyncpg.Connection, pids: set[int]) -> None:
    await admin_db.execute(
        "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(pids)
    )
    # pg_terminate_backend only signals: wait until the backends are gone.
    for _ in range(100):
        alive = await admin_db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
        )
        if alive == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backends {pids} still alive")


async def test_units_of_work_succeed_after_the_server_drops_every_pooled_connection(
    engine: AsyncEngine, admin_db: asyncpg.Connection
) -> None:
    factory = UnitOfWorkFactory(engine, SCHEMA)
    # Two connections in the pool at once, then back in it, idle.
    release = asyncio.Event()
    holders = [asyncio.create_task(_backend(factory, release)) for _ in range(2)]
    await asyncio.sleep(0.2)
    release.set()
    pooled = set(await asyncio.gather(*holders))
    assert len(pooled) == 2

    await _terminate(admin_db, pooled)

    after = [await _backend(factory) for _ in range(3)]
    assert not pooled & set(after), "a dead connection was handed out again"


async def test_a_dead_connection_is_not_retried_past_the_first_statement(
    engine: AsyncEngine, admin_db: asyncpg.Connection
) -> None:
    """Only the transaction's first statement is retried: once work has begun, the error
    reaches the caller (a half-done transaction is never replayed)."""
    factory = UnitOfWorkFactory(engine, SCHEMA)
    async with factory(OrgScope.everything()) as uow:
        pid = int((await uow.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        await _terminate(admin_db, {pid})
        with pytest.raises(DBAPIError):
            await uow.conn.execute(text("SELECT 1"))

    assert await _backend(factory) != pid


async def test_service_connections_plan_without_parallel_workers_or_jit(
    engine: AsyncEngine,
) -> None:
    """Short index reads only pay start-up cost for either (see `create_engine`)."""
    async with engine.connect() as conn:
        settings = (
            await conn.execute(
                text(
                    "SELECT current_setting('max_parallel_workers_per_gather'), "
                    "current_setting('jit')"
                )
            )
        ).one()
    assert tuple(settings) == ("0", "off")


async def test_a_unit_of_work_is_spent_by_its_commit(engine: AsyncEngine) -> None:
    """After the commit the connection is outside any transaction: using it again would
    commit statement by statement, so it is refused."""
    factory = UnitOfWorkFactory(engine, SCHEMA)
    async with factory(OrgScope.everything()) as uow:
        await uow.conn.execute(text("SELECT 1"))
        await uow.commit()
        with pytest.raises(RuntimeError, match="after its commit"):
            _ = uow.conn


async def test_a_cancelled_unit_of_work_leaves_nothing_to_the_next(engine: AsyncEngine) -> None:
    """The transaction and scope of a request cancelled mid-statement never reach the next
    user of the pooled connection."""
    factory = UnitOfWorkFactory(engine, SCHEMA)
    started = asyncio.Event()

    async def cancelled() -> None:
        async with factory(OrgScope.of([uuid4()])) as uow:
            await uow.conn.execute(text("SELECT set_config('app.marker', 'left over', true)"))
            started.set()
            await uow.conn.execute(text("SELECT pg_sleep(5)"))

    task = asyncio.create_task(cancelled())
    await started.wait()
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(3):  # the pool holds two connections: meet both
        async with factory(OrgScope.everything()) as uow:
            row = (
                await uow.conn.execute(
                    text(
                        "SELECT current_setting('app.marker', true), "
                        "current_setting('app.all_orgs', true)"
                    )
                )
            ).one()
        assert tuple(row) in {("", "on"), (None, "on")}


async def test_a_second_commit_finds_nothing_to_do(engine: AsyncEngine) -> None:
    factory = UnitOfWorkFactory(engine, SCHEMA)
    async with factory(OrgScope.everything()) as uow:
        await uow.conn.execute(text("SELECT 1"))
        await uow.commit()
        await uow.commit()
