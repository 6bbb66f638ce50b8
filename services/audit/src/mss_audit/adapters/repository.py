"""The event store and the audit log in PostgreSQL (insert and read only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlmodel import col, select

from mss_audit.adapters.tables import AuditLogRow, EventRow
from mss_audit.domain.chain import GENESIS, AuditEntry, ChainLink, entry_hash
from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork
from mss_db.scope import in_scope

WALK_BATCH = 1000


def _stored(row: Row[Any]) -> StoredLog:
    return StoredLog(
        position=row.position,
        seq=row.seq,
        hash=row.hash,
        id=row.id,
        event_id=row.event_id,
        user_id=row.user_id,
        session_id=row.session_id,
        org_id=row.org_id,
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        details=row.details,
        ip_address=str(row.ip_address) if row.ip_address is not None else None,
        user_agent=row.user_agent,
        success=row.success,
        error_message=row.error_message,
        timestamp=row.timestamp,
    )


@dataclass(frozen=True, slots=True)
class LogFilter:
    org_id: UUID | None = None
    user_id: UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: UUID | None = None
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredLog(AuditEntry):
    """An entry as the log holds it: its place in the log and its link in its chain."""

    position: int
    seq: int
    hash: str


class AuditRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._scope = uow.scope

    async def store_event(self, envelope: EventEnvelope) -> bool:
        """Keep the (redacted) event; False when it was stored before."""
        result = await self._conn.execute(
            insert(EventRow)
            .values(
                id=envelope.id,
                type=envelope.type,
                aggregate_id=envelope.aggregate_id,
                aggregate_type=envelope.aggregate_type,
                org_id=envelope.organization_id,
                data=envelope.data,
                metadata=envelope.metadata.model_dump(mode="json", by_alias=True),
                schema_version=envelope.schema_version,
                occurred_at=envelope.metadata.timestamp,
                received_at=func.clock_timestamp(),
            )
            .on_conflict_do_nothing(index_elements=[col(EventRow.id)])
            .returning(col(EventRow.id))
        )
        return result.first() is not None

    async def append(self, entry: AuditEntry) -> ChainLink:
        """Append to the entry's chain; a per-chain lock keeps concurrent writers in order."""
        await self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"audit-chain:{entry.chain_key}"},
        )
        last = (
            await self._conn.execute(
                select(AuditLogRow.seq, AuditLogRow.hash)
                .where(col(AuditLogRow.chain_key) == entry.chain_key)
                .order_by(col(AuditLogRow.seq).desc())
                .limit(1)
            )
        ).first()
        seq = (last.seq + 1) if last else 1
        prev_hash = last.hash if last else GENESIS
        link = ChainLink(
            entry=entry,
            seq=seq,
            prev_hash=prev_hash,
            hash=entry_hash(entry, seq=seq, prev_hash=prev_hash),
        )
        await self._conn.execute(
            insert(AuditLogRow).values(
                id=entry.id,
                event_id=entry.event_id,
                user_id=entry.user_id,
                session_id=entry.session_id,
                org_id=entry.org_id,
                action=entry.action,
                resource_type=entry.resource_type,
                resource_id=entry.resource_id,
                details=entry.details,
                ip_address=entry.ip_address,
                user_agent=entry.user_agent,
                success=entry.success,
                error_message=entry.error_message,
                timestamp=entry.timestamp,
                chain_key=entry.chain_key,
                seq=link.seq,
                prev_hash=link.prev_hash,
                hash=link.hash,
            )
        )
        return link

    async def logs(self, where: LogFilter, *, before: int | None, limit: int) -> list[StoredLog]:
        """Newest first; `before` is the cursor (a position) of the previous page's end."""
        conditions = [in_scope(col(AuditLogRow.org_id), self._scope)]
        if where.org_id is not None:
            conditions.append(col(AuditLogRow.org_id) == where.org_id)
        if where.user_id is not None:
            conditions.append(col(AuditLogRow.user_id) == where.user_id)
        if where.action is not None:
            conditions.append(col(AuditLogRow.action) == where.action)
        if where.resource_type is not None:
            conditions.append(col(AuditLogRow.resource_type) == where.resource_type)
        if where.resource_id is not None:
            conditions.append(col(AuditLogRow.resource_id) == where.resource_id)
        if where.success is not None:
            conditions.append(col(AuditLogRow.success) == where.success)
        if where.since is not None:
            conditions.append(col(AuditLogRow.timestamp) >= where.since)
        if where.until is not None:
            conditions.append(col(AuditLogRow.timestamp) < where.until)
        if before is not None:
            conditions.append(col(AuditLogRow.position) < before)
        rows = (
            await self._conn.execute(
                select(AuditLogRow)
                .where(*conditions)
                .order_by(col(AuditLogRow.position).desc())
                .limit(limit)
            )
        ).all()
        return [_stored(row) for row in rows]

    async def events_of(self, aggregate_id: UUID, *, limit: int) -> list[Row[Any]]:
        return list(
            (
                await self._conn.execute(
                    select(EventRow)
                    .where(col(EventRow.aggregate_id) == aggregate_id)
                    .order_by(col(EventRow.position))
                    .limit(limit)
                )
            ).all()
        )

    async def chain_keys(self, org_id: UUID | None) -> list[UUID]:
        query = select(AuditLogRow.chain_key).distinct()
        if org_id is not None:
            query = query.where(col(AuditLogRow.org_id) == org_id)
        return [row.chain_key for row in (await self._conn.execute(query)).all()]

    async def chain_heads(self) -> list[tuple[UUID, int, str]]:
        """(chain key, seq, hash) of the newest link of every chain in scope."""
        rows = await self._conn.execute(
            select(AuditLogRow.chain_key, AuditLogRow.seq, AuditLogRow.hash)
            .ext(distinct_on(col(AuditLogRow.chain_key)))
            .order_by(col(AuditLogRow.chain_key), col(AuditLogRow.seq).desc())
        )
        return [(row.chain_key, row.seq, row.hash) for row in rows.all()]

    async def has_link(self, chain_key: UUID, *, seq: int, hash: str) -> bool:
        """Whether the chain still holds this link (an anchored head, say) at `seq`."""
        row = (
            await self._conn.execute(
                select(col(AuditLogRow.id)).where(
                    col(AuditLogRow.chain_key) == chain_key,
                    col(AuditLogRow.seq) == seq,
                    col(AuditLogRow.hash) == hash,
                )
            )
        ).first()
        return row is not None

    async def walk(self, chain_key: UUID) -> AsyncIterator[ChainLink]:
        """Every link of a chain in order, read in batches."""
        after = 0
        while True:
            rows = (
                await self._conn.execute(
                    select(AuditLogRow)
                    .where(col(AuditLogRow.chain_key) == chain_key, col(AuditLogRow.seq) > after)
                    .order_by(col(AuditLogRow.seq))
                    .limit(WALK_BATCH)
                )
            ).all()
            for row in rows:
                yield ChainLink(
                    entry=_stored(row), seq=row.seq, prev_hash=row.prev_hash, hash=row.hash
                )
            if len(rows) < WALK_BATCH:
                return
            after = rows[-1].seq
