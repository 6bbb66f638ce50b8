"""API keys for integrations: managed by super admins, exchanged for short-lived tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_auth.sessions import SessionStore
from mss_db import UnitOfWork
from mss_identity.adapters.keys import TokenIssuer
from mss_identity.adapters.repository import ApiKeyRepository, IdentityRepository
from mss_identity.domain.api_keys import ApiKey, api_key_hash, checked_permissions, new_api_key
from mss_identity.domain.errors import ApiKeyNotFound, InvalidApiKey, OrganizationNotFound
from mss_identity.domain.tokens import IssuedToken


@dataclass(frozen=True, slots=True)
class CreatedKey:
    api_key: ApiKey
    key: str  # shown once, never stored


async def create_key(
    *,
    org_id: UUID,
    name: str | None,
    permissions: Iterable[str],
    created_by: UUID,
    uow: UnitOfWork,
) -> CreatedKey:
    granted = checked_permissions(permissions)
    if await IdentityRepository(uow).org(org_id) is None:
        raise OrganizationNotFound()
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
    await uow.commit()
    return CreatedKey(api_key=api_key, key=fresh.key)


async def list_keys(org_id: UUID | None, *, uow: UnitOfWork) -> list[ApiKey]:
    return await ApiKeyRepository(uow).list_keys(org_id)


def _sessions_of(key_id: UUID) -> str:
    return f"api_key:{key_id}"


async def revoke_key(key_id: UUID, *, uow: UnitOfWork, sessions: SessionStore) -> None:
    """No new token is issued, and the tokens already issued stop working at once."""
    if not await ApiKeyRepository(uow).revoke(key_id, datetime.now(UTC)):
        raise ApiKeyNotFound()
    await uow.commit()
    await sessions.revoke_group(_sessions_of(key_id))


async def exchange_key(
    key: str, *, uow: UnitOfWork, tokens: TokenIssuer, sessions: SessionStore
) -> IssuedToken:
    """Client credentials: a live key of an active org → an access token with its perms."""
    now = datetime.now(UTC)
    keys = ApiKeyRepository(uow)
    api_key = await keys.live(api_key_hash(key))
    org = await IdentityRepository(uow).org(api_key.org_id) if api_key else None
    if api_key is None or org is None or not org.active:
        raise InvalidApiKey()
    await keys.mark_used(api_key.id, now)
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
