"""Access transparency: provider staff's reads of customer data, journaled for the customer.

Every read by a provider user of a customer organization's data is counted in a
`customer_data.accessed` event of that organization's audit log (writes have their own
domain events): one event per (actor, organization, resource type) per journal window,
carrying how many reads it stands for and the first and last time (`mss_service.journal`).
The first read of a key reaches the outbox at the next flush (250 ms); a flood of reads
costs one event per key per window. Requests only update an in-memory count, so a read
costs no database round trip.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from fastapi import Request
from prometheus_client import Counter as Metric

from mss_auth.principal import Principal
from mss_contracts.events import CustomerDataAccessed, EventContext, EventEnvelope, new_event
from mss_contracts.permissions import OrganizationType, Role
from mss_service.journal import Tally, WindowedJournal

DROPPED = Metric(
    "mss_access_journal_dropped_total",
    "Access-transparency reads dropped because the journal was full (database down)",
)


class AccessKey(NamedTuple):
    """What one `customer_data.accessed` event aggregates over."""

    actor_id: UUID
    org_id: UUID
    resource_type: str


@dataclass(frozen=True, slots=True)
class Read:
    """What the event tells of the first read it stands for."""

    method: str
    path: str
    actor_role: Role | None


class AccessJournal(WindowedJournal[AccessKey, Read]):
    """Provider reads of customer data, counted per actor, organization and resource type."""

    name = "access journal"
    dropped = DROPPED

    def record(
        self,
        request: Request,
        principal: Principal,
        context: Callable[[], EventContext],
        *,
        resource_type: str,
        org_ids: Iterable[UUID],
        resource_id: UUID | None = None,
    ) -> int:
        """Count a read of `org_ids`' data (once per customer org); returns how many orgs.

        `context` is built only for the first read of an event: customers' own reads, the
        common case, cost nothing here.
        """
        if principal.org_type is not OrganizationType.MSS_PROVIDER:
            return 0
        counts = Counter(org for org in org_ids if org != principal.org_id)
        if not counts:
            return 0
        read = Read(method=request.method, path=request.url.path, actor_role=principal.role)
        built: list[EventContext] = []

        def caused_by() -> EventContext:
            if not built:
                built.append(context())
            return built[0]

        for org_id, shown in counts.items():
            self.note(
                AccessKey(principal.user_id, org_id, resource_type),
                sample=read,
                context=caused_by,
                weight=shown,
                subject=resource_id,
            )
        return len(counts)

    def event_for(self, key: AccessKey, tally: Tally[Read]) -> EventEnvelope:
        return new_event(
            CustomerDataAccessed(
                method=tally.sample.method,
                path=tally.sample.path,
                actor_role=tally.sample.actor_role,
                resource_count=tally.weight,
                access_count=tally.count,
                first_at=tally.first,
                last_at=tally.last,
            ),
            aggregate_id=tally.only_subject or key.org_id,
            aggregate_type=key.resource_type,
            organization_id=key.org_id,
            version=1,
            context=tally.context,
        )
