"""Keep identity's organization directory in step with the organization service.

A suspension also ends every live session of the organization's users, and every token
exchanged from its API keys, at once: the Redis keys go first, so every service refuses
their tokens within the same second. The directory's write is `record_organization`,
which fetched records go through too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mss_auth.sessions import SessionStore
from mss_bus.consumer import Effect
from mss_contracts.events import (
    EVENT_TYPES,
    EventContext,
    EventEnvelope,
    OrganizationSnapshot,
    SessionRevoked,
    new_event,
    parse_data,
)
from mss_db import UnitOfWork
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.api_keys import end_key_tokens
from mss_identity.application.org_directory import record_organization

BINDINGS = ["organization.*"]


def on_organization_event(sessions: SessionStore) -> Effect:
    async def apply(uow: UnitOfWork, envelope: EventEnvelope) -> None:
        if envelope.type not in EVENT_TYPES:
            return  # a newer event type than this build knows: nothing to apply
        data = parse_data(envelope)
        if not isinstance(data, OrganizationSnapshot):
            return
        org_id, version = envelope.aggregate_id, envelope.metadata.version
        newer = await record_organization(uow, org_id, data, version)
        if envelope.type != "organization.suspended":
            return
        repo = IdentityRepository(uow)
        # A fetch may have stored this very state first (it writes the directory only): the
        # sessions still end here. A late, older suspension of a reactivated org does not.
        if not newer and await repo.org_version(org_id) != version:
            return
        await end_key_tokens(envelope.aggregate_id, uow=uow, sessions=sessions)
        ended = await repo.revoke_sessions(
            org_id=envelope.aggregate_id, reason="organization_suspended", now=datetime.now(UTC)
        )
        context = EventContext(
            correlation_id=envelope.metadata.correlation_id, causation_id=envelope.id
        )
        for session_id, user_id, org_id in ended:
            await sessions.revoke(session_id)
            await uow.outbox.add(
                new_event(
                    SessionRevoked(session_id=session_id, reason="organization_suspended"),
                    aggregate_id=user_id,
                    organization_id=org_id,
                    version=1,
                    context=context,
                )
            )

    return apply
