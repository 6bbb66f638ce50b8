"""Unit of work: one transaction, one tenant scope, and the outbox written inside it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Protocol, Self, TypeVar
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mss_contracts.events import EventEnvelope
from mss_db.bulk import insert_rows
from mss_db.engine import begin_scoped, commit_scoped, end_scoped
from mss_db.scope import OrgScope
from mss_db.tables import outbox_table


class Outbox:
    """Events to publish, written in the same transaction as the state they describe."""

    def __init__(self, conn: AsyncConnection, schema: str) -> None:
        self._conn = conn
        self._insert = insert(outbox_table(schema))
        self._table = f"{schema}.outbox"
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

    async def add_serialized(self, events: Sequence[tuple[UUID, str, str]]) -> None:
        """Many events already in wire form, `(id, type, envelope JSON)`, in one statement.

        For a use case writing thousands of events per request (alert ingest) without a
        model per event; its JSON must be what `EventEnvelope.model_dump(mode="json",
        by_alias=True)` gives, which that use case's tests hold it to."""
        if not events:
            return
        await insert_rows(self._conn, self._table, _OUTBOX_COLUMNS, events)
        self.added += len(events)


_OUTBOX_COLUMNS = [("id", "uuid"), ("event_type", "text"), ("payload", "jsonb")]

T = TypeVar("T")


class Projection(Protocol):
    """A local projection's way back to the owner of its entities.

    `find` loads the entity from the local table; when it is missing (or `accept` refuses
    what is there), the owner is asked once and the load repeated
    (`mss_projections.ProjectionSource`).
    """

    async def find(
        self,
        entity_id: UUID,
        load: Callable[[], Awaitable[T | None]],
        *,
        accept: Callable[[T], bool] | None = None,
    ) -> T | None: ...


class LocalOnly:
    """No owner to ask (tools, and tests that seed the projection): the table as it is."""

    async def find(
        self,
        entity_id: UUID,
        load: Callable[[], Awaitable[T | None]],
        *,
        accept: Callable[[T], bool] | None = None,
    ) -> T | None:
        return await load()


LOCAL_ONLY = LocalOnly()


class UnitOfWork:
    """`async with factory(scope) as uow:` … `await uow.commit()` once, at the end.

    Leaving without a commit rolls back. After the commit the unit of work is spent: its
    connection is no longer in a transaction (nor in a scope), so using it again is an
    error rather than statements committed one by one.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        schema: str,
        scope: OrgScope,
        wake: asyncio.Event | None,
        projections: dict[str, Projection] | None = None,
    ) -> None:
        self._engine = engine
        self._schema = schema
        self._scope = scope
        self._wake = wake
        self._projections = projections or {}
        self._conn: AsyncConnection | None = None
        self._outbox: Outbox | None = None
        self._committed = False

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `async with`")
        if self._committed:
            raise RuntimeError("unit of work used after its commit")
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

    def projection(self, name: str) -> Projection:
        """The way back to the owner of projection `name` (a table), or the table alone."""
        return self._projections.get(name, LOCAL_ONLY)

    async def __aenter__(self) -> Self:
        self._conn = await begin_scoped(self._engine, self._scope)
        self._outbox = Outbox(self._conn, self._schema)
        self._committed = False
        return self

    async def commit(self) -> None:
        """Commit once; a second call (an effect that committed, then its caller) finds
        nothing to do, since nothing can have run in between."""
        if self._committed:
            return
        await commit_scoped(self.conn)
        self._committed = True
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
            await end_scoped(conn)


class UnitOfWorkFactory:
    """Builds units of work for one service schema; shares the relay's wake-up signal.

    `projections`: the service's projections that can ask their owner on a miss, by
    table name (`ServiceRuntime.project` registers them).
    """

    def __init__(self, engine: AsyncEngine, schema: str) -> None:
        self.engine = engine
        self.schema = schema
        self.outbox_written = asyncio.Event()
        self.projections: dict[str, Projection] = {}

    def __call__(self, scope: OrgScope) -> UnitOfWork:
        return UnitOfWork(self.engine, self.schema, scope, self.outbox_written, self.projections)
