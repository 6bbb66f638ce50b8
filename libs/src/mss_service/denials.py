"""Denied actions, audited (ASVS V16.3) without letting a flood of them flood the audit.

Every refused request becomes part of an `access.denied` event of the actor's organization:
one event per (actor, organization, action, status, code, subject) per journal window,
carrying how many refusals it stands for and the first and last time
(`mss_service.journal`: the first refusal of a key reaches the outbox at the next flush).

Two ways in:
- requests of a signed-in principal that end in 403, 404 or 429 are recorded by the
  shared error handling of every service (`mss_service.create_service_app`), with the
  route template as the action;
- refusals before anyone is signed in (a wrong password, a wrong MFA code, a refused
  login) are the authenticating service's to record, with an explicit actor and
  organization: `ServiceRuntime.record_denial(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID, uuid4

from prometheus_client import Counter as Metric

from mss_contracts.api import ErrorCode
from mss_contracts.events import AccessDenied, EventContext, EventEnvelope, new_event
from mss_contracts.permissions import Role
from mss_service.journal import Tally, WindowedJournal

DROPPED = Metric(
    "mss_denial_journal_dropped_total",
    "Denied actions not audited because the denial journal was full (database down)",
)

# The event's limits (contracts): longer texts are cut, never refused.
_ACTION_MAX = 300
_REASON_MAX = 500
_SUBJECT_MAX = 320


class DenialKey(NamedTuple):
    """What one `access.denied` event aggregates over."""

    actor_id: UUID | None
    org_id: UUID | None
    action: str
    status: int
    code: ErrorCode
    subject: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """What the event tells of the first refusal it stands for."""

    reason: str
    actor_role: Role | None


class DenialJournal(WindowedJournal[DenialKey, Refusal]):
    """Refused requests, counted per actor, organization, action, status and code."""

    name = "denial journal"
    dropped = DROPPED

    def record(
        self,
        *,
        actor_id: UUID | None,
        org_id: UUID | None,
        action: str,
        status: int,
        code: ErrorCode,
        reason: str,
        context: Callable[[], EventContext],
        actor_role: Role | None = None,
        subject: str | None = None,
    ) -> None:
        """Count one refusal; `context` is built only for the first refusal of an event."""
        self.note(
            DenialKey(
                actor_id,
                org_id,
                action[:_ACTION_MAX],
                status,
                code,
                subject[:_SUBJECT_MAX] if subject is not None else None,
            ),
            sample=Refusal(reason=reason[:_REASON_MAX], actor_role=actor_role),
            context=context,
        )

    def event_for(self, key: DenialKey, tally: Tally[Refusal]) -> EventEnvelope:
        return new_event(
            AccessDenied(
                action=key.action,
                status=key.status,
                code=key.code,
                reason=tally.sample.reason,
                actor_role=tally.sample.actor_role,
                subject=key.subject,
                count=tally.count,
                first_at=tally.first,
                last_at=tally.last,
            ),
            # The actor is the aggregate; a refusal with no known actor gets an id of its
            # own, as identity's failed logins for unknown e-mails do.
            aggregate_id=key.actor_id or uuid4(),
            organization_id=key.org_id,
            version=1,
            context=tally.context,
        )
