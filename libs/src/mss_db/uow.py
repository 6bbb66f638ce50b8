"""Unit of work: one transaction, one tenant scope, and the outbox written inside it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mss_contracts.events import EventEnvelope
from mss_db.scope import OrgScope, apply_scope
from mss_db.tables import outbox_table


class Outbox:
    """Events to publish, written in the same transaction as the state they describe."""

    def __init__(self, conn: AsyncConnection, schema: str) -> None:
        self._conn = conn
        self._insert = insert(outbox_table(schema))
        self.added = 0

    async def add(self, envelope: EventEnvelope) -> None:
        await self.add_all([envelope])

    async def add_all(self, envelopes: Sequence[EventEnvelope]) -> None:
        """One round trip for many events (executemany)."""
        if not envelopes:
            return
        await self._conn.execute(
            self._insert,
            [
                {
                    "id": envelope.id,
                    "event_type": envelope.type,
                    "payload": envelope.model_dump(mode="json", by_alias=True),
                }
                for envelope in envelopes
            ],
        )
        self.added += len(envelopes)


class UnitOfWork:
    """`async with factory(scope) as uow:` … `await uow.commit()` once, at the end.

    Leaving without a commit rolls back. After the commit the connection has no scope, so
    anything read through it by mistake sees no tenant row (RLS fails closed).
    """

    def __init__(
        self, engine: AsyncEngine, schema: str, scope: OrgScope, wake: asyncio.Event | None
    ) -> None:
        self._engine = engine
        self._schema = schema
        self._scope = scope
        self._wake = wake
        self._conn: AsyncConnection | None = None
        self._outbox: Outbox | None = None

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `async with`")
        return self._conn

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("unit of work used outside its `async with`")
        return self._outbox

    @property
    def scope(self) -> OrgScope:
        return self._scope

    @property
    def schema(self) -> str:
        return self._schema

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        await apply_scope(self._conn, self._scope)
        self._outbox = Outbox(self._conn, self._schema)
        return self

    async def commit(self) -> None:
        await self.conn.commit()
        if self._wake is not None and self.outbox.added:
            # Wake this process's relay now rather than at its next poll.
            self._wake.set()
        self.outbox.added = 0

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.rollback()
            await conn.close()


class UnitOfWorkFactory:
    """Builds units of work for one service schema; shares the relay's wake-up signal."""

    def __init__(self, engine: AsyncEngine, schema: str) -> None:
        self.engine = engine
        self.schema = schema
        self.outbox_written = asyncio.Event()

    def __call__(self, scope: OrgScope) -> UnitOfWork:
        return UnitOfWork(self.engine, self.schema, scope, self.outbox_written)
