"""The per-organization hash chain: each entry's hash covers its content and the previous hash.

Editing, removing or reordering any entry breaks every hash after it, so a verifier
walking the chain finds the first entry that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64
# Events with no organization (e.g. a failed login for an unknown email) chain here.
PLATFORM_CHAIN = UUID(int=0)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: UUID
    event_id: UUID
    user_id: UUID | None
    session_id: UUID | None
    org_id: UUID | None
    action: str
    resource_type: str
    resource_id: UUID | None
    details: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    success: bool
    error_message: str | None
    timestamp: datetime

    @property
    def chain_key(self) -> UUID:
        return self.org_id or PLATFORM_CHAIN


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)


def entry_hash(entry: AuditEntry, *, seq: int, prev_hash: str) -> str:
    """SHA-256 of the canonical JSON of the entry, its position and the previous hash."""
    canonical = json.dumps(
        {
            "seq": seq,
            "prevHash": prev_hash,
            "id": str(entry.id),
            "eventId": str(entry.event_id),
            "chainKey": str(entry.chain_key),
            "orgId": _str(entry.org_id),
            "userId": _str(entry.user_id),
            "sessionId": _str(entry.session_id),
            "action": entry.action,
            "resourceType": entry.resource_type,
            "resourceId": _str(entry.resource_id),
            "details": entry.details,
            "ipAddress": entry.ip_address,
            "userAgent": entry.user_agent,
            "success": entry.success,
            "errorMessage": entry.error_message,
            "timestamp": entry.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainLink:
    entry: AuditEntry
    seq: int
    prev_hash: str
    hash: str


@dataclass(slots=True)
class ChainVerifier:
    """Feed links in `seq` order; remembers the first one that does not hold."""

    checked: int = 0
    first_broken: UUID | None = None
    _expected_prev: str = GENESIS
    _expected_seq: int = 1

    def feed(self, link: ChainLink) -> None:
        self.checked += 1
        if self.first_broken is None:
            recomputed = entry_hash(link.entry, seq=link.seq, prev_hash=link.prev_hash)
            if (
                link.seq != self._expected_seq
                or link.prev_hash != self._expected_prev
                or recomputed != link.hash
            ):
                self.first_broken = link.entry.id
        self._expected_prev = link.hash
        self._expected_seq = link.seq + 1

    @property
    def valid(self) -> bool:
        return self.first_broken is None
