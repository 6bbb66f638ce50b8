"""An ingest request folded by dedup key: what one upsert statement writes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from mss_security.domain.alerts import AlertStatus, Category, Observable, Resolution, Severity


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """One validated item of an ingest request, its organization and fingerprint settled."""

    org_id: UUID
    title: str
    description: str
    severity: Severity
    category: Category
    source: str
    source_ref: str | None
    fingerprint: str
    seen_at: datetime
    affected_assets: tuple[str, ...]
    observables: tuple[Observable, ...]
    metadata: dict[str, Any]

    @property
    def dedup_key(self) -> tuple[UUID, str, str]:
        return (self.org_id, self.source, self.fingerprint)


@dataclass(slots=True)
class IngestGroup:
    """Every item of a request sharing one dedup key; the first one describes the alert."""

    first: IncomingAlert
    indexes: list[int] = field(default_factory=list)
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None

    @property
    def count(self) -> int:
        return len(self.indexes)

    def add(self, index: int, item: IncomingAlert) -> None:
        self.indexes.append(index)
        if self.first_seen_at is None or item.seen_at < self.first_seen_at:
            self.first_seen_at = item.seen_at
        if self.last_seen_at is None or item.seen_at > self.last_seen_at:
            self.last_seen_at = item.seen_at


def group_by_dedup_key(items: list[IncomingAlert]) -> list[IngestGroup]:
    """Fold duplicates inside one request, keys sorted.

    One INSERT … ON CONFLICT may not touch a conflict key twice, hence the folding; and
    concurrent batches lock their rows in the same (sorted) order, so they never deadlock.
    """
    groups: dict[tuple[UUID, str, str], IngestGroup] = {}
    for index, item in enumerate(items):
        group = groups.get(item.dedup_key)
        if group is None:
            group = groups[item.dedup_key] = IngestGroup(first=item)
        group.add(index, item)
    return [groups[key] for key in sorted(groups, key=lambda k: (str(k[0]), k[1], k[2]))]


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """What an ingest request needs back of an alert it wrote: its answer and its event
    (the alert's snapshot fields; none of its large JSON ones)."""

    id: UUID
    org_id: UUID
    version: int
    title: str
    severity: Severity
    status: AlertStatus
    category: Category
    source: str
    fingerprint: str
    assigned_to: UUID | None
    occurrence_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolution: Resolution | None
    intervention_id: UUID | None
    previous_alert_id: UUID | None


def new_ids(count: int) -> list[UUID]:
    """`count` random (version 4) UUIDs from one read of the OS's random source (uuid4
    reads it once per id: a system call each, thousands per ingest batch)."""
    raw = os.urandom(16 * count)
    return [UUID(bytes=raw[i : i + 16], version=4) for i in range(0, 16 * count, 16)]
