"""Async engines (asyncpg) with JSON that understands our types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from mss_db.scope import OrgScope, begin_sql


def _default(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


# Per connection, for every service's engine (see `create_engine`).
OLTP_SETTINGS = {"max_parallel_workers_per_gather": "0", "jit": "off"}


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose connections never keep state between transactions.

    No pre-ping: it cost every checkout two round trips (BEGIN; ROLLBACK). A connection
    the server dropped is found by the first statement instead (`begin_scoped` retries
    that once on a fresh one), and SQLAlchemy then drops every older pooled connection.

    No parallel plans and no JIT: our statements are short index reads, for which both only
    add start-up cost. Measured on 1 M alerts, a capped count of 10,001 index entries took
    99 ms with two parallel workers and 10 ms without; an all-organizations count's cost
    passes `jit_above_cost`, so it would compile before it runs.

    AUTOCOMMIT, set once per connection: SQLAlchemy never begins a transaction of its own
    on these connections. Every transaction is opened by `begin_scoped` (one round trip,
    see there) and ended by `commit_scoped`/`end_scoped`; `scoped_transaction` wraps the
    three for code that is not a unit of work. Setting the level per checkout instead cost
    about 4 % of a one-page list request.
    """
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        json_serializer=json_dumps,
        connect_args={"server_settings": OLTP_SETTINGS},
    )


# What a connection the server dropped raises at its next statement.
DEAD_CONNECTION = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


async def begin_scoped(engine: AsyncEngine, scope: OrgScope) -> AsyncConnection:
    """A pooled connection in a transaction that sees `scope`; end it with `end_scoped`.

    One round trip: `BEGIN` and the scope's settings go to the server as one simple query
    on the asyncpg connection, where SQLAlchemy would send BEGIN, then the settings. The
    engine runs in AUTOCOMMIT mode (`create_engine`), so SQLAlchemy sends no BEGIN of its
    own; the transaction is ours, and `commit_scoped`/`end_scoped` end it.

    Reconnect on error: when the pooled connection turns out dead (the server restarted, a
    failover, `pg_terminate_backend`), nothing has happened in the transaction yet, so a
    fresh connection is taken once. The failure is first confirmed through SQLAlchemy (a
    statement it runs itself), which then drops every older pooled connection too, so the
    retry does not meet another dead one.
    """
    for attempt in (1, 2):
        conn = await engine.connect()
        try:
            driver = driver_connection(conn)
            # A connection never returns to the pool inside a transaction (`end_scoped`);
            # should one ever, its transaction is rolled back here rather than joined.
            stale = "ROLLBACK; " if driver.is_in_transaction() else ""
            try:
                await driver.execute(stale + begin_sql(scope))
            except DEAD_CONNECTION:
                # Dead, or caught mid-death (asyncpg still consuming the server's FATAL: an
                # InternalClientError): unusable either way. Closed, it is a disconnect to
                # SQLAlchemy, whose own statement then raises DBAPIError(connection_
                # invalidated=True) and drops the pool's older connections.
                driver.terminate()
                await conn.exec_driver_sql("SELECT 1")
                raise
        except DBAPIError as exc:
            await conn.close()
            if exc.connection_invalidated and attempt == 1:
                continue
            raise
        except BaseException:
            await conn.close()
            raise
        return conn
    raise AssertionError("unreachable")


async def commit_scoped(conn: AsyncConnection) -> None:
    """Commit the transaction `begin_scoped` opened; the connection then has no scope."""
    await driver_connection(conn).execute("COMMIT")


async def end_scoped(conn: AsyncConnection) -> None:
    """Roll back what is left uncommitted and return the connection to the pool.

    A connection whose state is unknown (the rollback failed or was cancelled) is
    invalidated instead: the pool never hands out a transaction, or a scope, it left open.
    """
    try:
        # An invalidated connection (it died under a statement) never returns to the pool.
        if not conn.invalidated:
            driver = driver_connection(conn)
            if driver.is_in_transaction():
                await driver.execute("ROLLBACK")
    except BaseException:
        await conn.invalidate()
        raise
    finally:
        await conn.close()


@asynccontextmanager
async def scoped_transaction(
    engine: AsyncEngine, scope: OrgScope
) -> AsyncIterator[AsyncConnection]:
    """A transaction that sees `scope`, committed when the block ends without an error."""
    conn = await begin_scoped(engine, scope)
    try:
        yield conn
        await commit_scoped(conn)
    finally:
        await end_scoped(conn)


def driver_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn`, inside the same transaction.

    Read without a trip through SQLAlchemy's greenlet (`get_raw_connection`): a connection
    that is not invalidated holds its DBAPI connection as a plain attribute.
    """
    sync = conn.sync_connection
    if sync is None or sync.invalidated:
        raise RuntimeError("the connection is closed or invalidated")
    return sync.connection.driver_connection
