"""The event store and the audit log in PostgreSQL (insert and read only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Row, Text, Uuid, bindparam, func, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlmodel import col, select

from mss_audit.adapters.tables import AuditLogRow, EventRow
from mss_audit.domain.chain import GENESIS, AuditEntry, ChainLink, entry_hash
from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork
from mss_db.bulk import insert_rows
from mss_db.engine import json_dumps
from mss_db.scope import in_scope

WALK_BATCH = 1000

_EVENTS = "audit.events"
_EVENT_COLUMNS = (
    ("id", "uuid"),
    ("type", "text"),
    ("aggregate_id", "uuid"),
    ("aggregate_type", "text"),
    ("org_id", "uuid"),
    ("data", "jsonb"),
    ("metadata", "jsonb"),
    ("schema_version", "int4"),
    ("occurred_at", "timestamptz"),
)
_LOGS = "audit.audit_logs"
_LOG_COLUMNS = (
    ("id", "uuid"),
    ("event_id", "uuid"),
    ("user_id", "uuid"),
    ("session_id", "uuid"),
    ("org_id", "uuid"),
    ("action", "text"),
    ("resource_type", "text"),
    ("resource_id", "uuid"),
    ("details", "jsonb"),
    ("ip_address", "inet"),
    ("user_agent", "text"),
    ("success", "bool"),
    ("error_message", "text"),
    ("timestamp", "timestamptz"),
    ("chain_key", "uuid"),
    ("seq", "int8"),
    ("prev_hash", "text"),
    ("hash", "text"),
)
# One lock per chain, taken in the order of the array (the caller sorts it): two writers
# needing overlapping chains take them in the same order, so neither waits on the other
# in a cycle. The key is the one `append` locks, so both paths exclude each other.
_LOCK_CHAINS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(:keys) AS k"
).bindparams(bindparam("keys", type_=ARRAY(Text)))
# The newest link of each chain: one index probe per chain (LATERAL ... LIMIT 1), not a
# scan of the chains' history.
_CHAIN_HEADS = text(
    "SELECT k.key, h.seq, h.hash FROM unnest(:keys) AS k(key) "
    "LEFT JOIN LATERAL (SELECT seq, hash FROM audit.audit_logs WHERE chain_key = k.key "
    "ORDER BY seq DESC LIMIT 1) AS h ON true"
).bindparams(bindparam("keys", type_=ARRAY(Uuid)))


def _lock_key(chain_key: UUID) -> str:
    return f"audit-chain:{chain_key}"


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
            {"key": _lock_key(entry.chain_key)},
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

    async def store_events(self, envelopes: Sequence[EventEnvelope]) -> set[UUID]:
        """`store_event` for many (redacted) events in one statement; the ids newly stored."""
        inserted = await insert_rows(
            self._conn,
            _EVENTS,
            _EVENT_COLUMNS,
            [
                (
                    envelope.id,
                    envelope.type,
                    envelope.aggregate_id,
                    envelope.aggregate_type,
                    envelope.organization_id,
                    json_dumps(envelope.data),
                    envelope.metadata.model_dump_json(by_alias=True),
                    envelope.schema_version,
                    envelope.metadata.timestamp,
                )
                for envelope in envelopes
            ],
            suffix="ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        return {row[0] for row in inserted}

    async def append_all(self, entries: Sequence[AuditEntry]) -> list[ChainLink]:
        """`append` for many entries: each chain locked and its head read once, the links
        computed here in order, every row inserted by one statement."""
        if not entries:
            return []
        keys = sorted({entry.chain_key for entry in entries})
        await self._conn.execute(_LOCK_CHAINS, {"keys": [_lock_key(key) for key in keys]})
        heads: dict[UUID, tuple[int, str]] = {
            row.key: (row.seq or 0, row.hash or GENESIS)
            for row in await self._conn.execute(_CHAIN_HEADS, {"keys": keys})
        }
        links: list[ChainLink] = []
        for entry in entries:
            last_seq, prev_hash = heads[entry.chain_key]
            seq = last_seq + 1
            link = ChainLink(
                entry=entry,
                seq=seq,
                prev_hash=prev_hash,
                hash=entry_hash(entry, seq=seq, prev_hash=prev_hash),
            )
            heads[entry.chain_key] = (seq, link.hash)
            links.append(link)
        await insert_rows(
            self._conn,
            _LOGS,
            _LOG_COLUMNS,
            [
                (
                    link.entry.id,
                    link.entry.event_id,
                    link.entry.user_id,
                    link.entry.session_id,
                    link.entry.org_id,
                    link.entry.action,
                    link.entry.resource_type,
                    link.entry.resource_id,
                    json_dumps(link.entry.details),
                    link.entry.ip_address,
                    link.entry.user_agent,
                    link.entry.success,
                    link.entry.error_message,
                    link.entry.timestamp,
                    link.entry.chain_key,
                    link.seq,
                    link.prev_hash,
                    link.hash,
                )
                for link in links
            ],
        )
        return links

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
