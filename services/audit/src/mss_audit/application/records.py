"""Audit use cases: record an event; read the log, the events of an aggregate; verify chains."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Row

from mss_audit.adapters.repository import AuditRepository, LogFilter, StoredLog
from mss_audit.domain.chain import ChainVerifier
from mss_audit.domain.entries import entry_for
from mss_audit.domain.errors import BadCursor, OrganizationNotFound
from mss_contracts.events import EventEnvelope, redacted
from mss_db import UnitOfWork


async def record_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Consumer effect: store the event and append its audit entry (secrets redacted first)."""
    clean = redacted(envelope)
    repo = AuditRepository(uow)
    if await repo.store_event(clean):
        await repo.append(entry_for(clean))


async def record_events(uow: UnitOfWork, envelopes: Sequence[EventEnvelope]) -> None:
    """Batch consumer effect: `record_event` for many events, a few statements in all.

    The entries of one chain are appended in the order of `envelopes` (delivery order).
    """
    clean = [redacted(envelope) for envelope in envelopes]
    repo = AuditRepository(uow)
    stored = await repo.store_events(clean)
    await repo.append_all([entry_for(envelope) for envelope in clean if envelope.id in stored])


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor() from exc


@dataclass(frozen=True, slots=True)
class LogPage:
    items: list[StoredLog]
    next_cursor: str | None


async def read_logs(
    where: LogFilter, *, cursor: str | None, limit: int, uow: UnitOfWork
) -> LogPage:
    before = decode_cursor(cursor) if cursor else None
    items = await AuditRepository(uow).logs(where, before=before, limit=limit + 1)
    has_more = len(items) > limit
    items = items[:limit]
    return LogPage(
        items=items,
        next_cursor=encode_cursor(items[-1].position) if has_more and items else None,
    )


async def aggregate_events(aggregate_id: UUID, *, limit: int, uow: UnitOfWork) -> list[Row[Any]]:
    return await AuditRepository(uow).events_of(aggregate_id, limit=limit)


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    checked: int
    first_broken_id: UUID | None


async def verify_chains(org_id: UUID | None, *, uow: UnitOfWork) -> Verification:
    """Walk every chain in scope (or the one of `org_id`) and report the first break."""
    if org_id is not None and not uow.scope.allows(org_id):
        raise OrganizationNotFound()
    repo = AuditRepository(uow)
    checked = 0
    for key in sorted(await repo.chain_keys(org_id)):
        verifier = ChainVerifier()
        async for link in repo.walk(key):
            verifier.feed(link)
        checked += verifier.checked
        if not verifier.valid:
            return Verification(valid=False, checked=checked, first_broken_id=verifier.first_broken)
    return Verification(valid=True, checked=checked, first_broken_id=None)
