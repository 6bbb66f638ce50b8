"""API keys for integrations: managed by super admins, exchanged for short-lived tokens.

A key's creation, its first exchange of each hour and its deletion are events (and so in
the audit log); none of them carries the key or its hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_auth.sessions import SessionStore
from mss_contracts.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyUsed,
    EventContext,
    EventData,
    EventEnvelope,
    new_event,
)
from mss_db import UnitOfWork
from mss_identity.adapters.keys import TokenIssuer
from mss_identity.adapters.repository import ApiKeyRepository, IdentityRepository
from mss_identity.adapters.throttles import Throttle
from mss_identity.application.refusals import Actor, Refusals
from mss_identity.domain.api_keys import (
    ApiKey,
    api_key_hash,
    checked_permissions,
    fitting_permissions,
    new_api_key,
)
from mss_identity.domain.errors import ApiKeyNotFound, InvalidApiKey, OrganizationNotFound
from mss_identity.domain.tokens import IssuedToken

# The first exchange of a key within this window is recorded (api_key.used), the others not.
USE_AUDIT_WINDOW_S = 3600


@dataclass(frozen=True, slots=True)
class CreatedKey:
    api_key: ApiKey
    key: str  # shown once, never stored


def _key_event(api_key: ApiKey, data: EventData, ctx: EventContext) -> EventEnvelope:
    return new_event(
        data, aggregate_id=api_key.id, organization_id=api_key.org_id, version=1, context=ctx
    )


async def create_key(
    *,
    org_id: UUID,
    name: str | None,
    permissions: Iterable[str],
    created_by: UUID,
    uow: UnitOfWork,
    ctx: EventContext,
) -> CreatedKey:
    granted = checked_permissions(permissions)
    org = await IdentityRepository(uow).org(org_id)
    if org is None:
        raise OrganizationNotFound()
    fitting_permissions(granted, org.type)
    fresh = new_api_key()
    api_key = ApiKey(
        id=uuid4(),
        org_id=org_id,
        name=name,
        prefix=fresh.prefix,
        permissions=granted,
        created_by=created_by,
        created_at=datetime.now(UTC),
        last_used_at=None,
        revoked_at=None,
    )
    await ApiKeyRepository(uow).add(api_key, key_hash=fresh.key_hash)
    created = ApiKeyCreated(
        name=name, prefix=api_key.prefix, permissions=list(granted), created_by=created_by
    )
    await uow.outbox.add(_key_event(api_key, created, ctx))
    await uow.commit()
    return CreatedKey(api_key=api_key, key=fresh.key)


async def list_keys(org_id: UUID | None, *, uow: UnitOfWork) -> list[ApiKey]:
    return await ApiKeyRepository(uow).list_keys(org_id)


def _sessions_of(key_id: UUID) -> str:
    return f"api_key:{key_id}"


async def revoke_key(
    key_id: UUID,
    *,
    revoked_by: UUID,
    uow: UnitOfWork,
    sessions: SessionStore,
    ctx: EventContext,
) -> None:
    """No new token is issued, and the tokens already issued stop working at once."""
    revoked = await ApiKeyRepository(uow).revoke(key_id, datetime.now(UTC))
    if revoked is None:
        raise ApiKeyNotFound()
    api_key, first_time = revoked
    if first_time:
        data = ApiKeyRevoked(prefix=api_key.prefix, revoked_by=revoked_by)
        await uow.outbox.add(_key_event(api_key, data, ctx))
    await uow.commit()
    await sessions.revoke_group(_sessions_of(key_id))


async def end_key_tokens(org_id: UUID, *, uow: UnitOfWork, sessions: SessionStore) -> None:
    """Every token exchanged from the organization's keys ends (its suspension)."""
    for api_key in await ApiKeyRepository(uow).list_keys(org_id):
        await sessions.revoke_group(_sessions_of(api_key.id))


async def exchange_key(
    key: str,
    *,
    uow: UnitOfWork,
    tokens: TokenIssuer,
    sessions: SessionStore,
    uses: Throttle,
    refusals: Refusals,
    ctx: EventContext,
) -> IssuedToken:
    """Client credentials: a live key of an active org → an access token with its perms.
    A refusal is audited: the key's, in its organization, when the key is live (its
    organization suspended); no one's for a key that is unknown or revoked."""
    now = datetime.now(UTC)
    keys = ApiKeyRepository(uow)
    api_key = await keys.live(api_key_hash(key))
    org = await IdentityRepository(uow).org(api_key.org_id) if api_key else None
    if api_key is None or org is None or not org.active:
        who = Actor(user_id=api_key.id, org_id=api_key.org_id) if api_key else None
        raise refusals.refused(InvalidApiKey(), who)
    await keys.mark_used(api_key.id, now)
    if await uses.spend(str(api_key.id)) == 1:
        used = ApiKeyUsed(prefix=api_key.prefix, window_s=USE_AUDIT_WINDOW_S)
        await uow.outbox.add(_key_event(api_key, used, ctx))
    await uow.commit()
    session_id = uuid4()
    # Live in Redis for exactly the token's life, so every service's session check passes.
    await sessions.activate(
        session_id, api_key.id, ttl_s=tokens.access_ttl_s, group=_sessions_of(api_key.id)
    )
    return tokens.access_token(
        subject=api_key.id,
        session_id=session_id,
        org_id=api_key.org_id,
        org_type=org.type,
        role=None,
        amr=["api_key"],
        now=now,
        permissions=list(api_key.permissions),
    )
