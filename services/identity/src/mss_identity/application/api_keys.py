"""API keys for integrations: managed by super admins, exchanged for short-lived tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_db import OrgScope
from mss_identity.adapters.repository import ApiKeyRepository, IdentityRepository
from mss_identity.application.auth import AuthDeps
from mss_identity.application.users import OrganizationNotFound
from mss_identity.domain.api_keys import ApiKey, api_key_hash, checked_permissions, new_api_key
from mss_identity.domain.tokens import IssuedToken, issue_access_token


class ApiKeyNotFound(Exception):
    pass


class InvalidApiKey(Exception):
    """Unknown, revoked, or of an inactive organization: all look alike."""


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
    deps: AuthDeps,
) -> CreatedKey:
    granted = checked_permissions(permissions)
    now = datetime.now(UTC)
    async with deps.uow(OrgScope.everything()) as uow:
        if await IdentityRepository(uow).org(org_id) is None:
            raise OrganizationNotFound(str(org_id))
        fresh = new_api_key()
        api_key = ApiKey(
            id=uuid4(),
            org_id=org_id,
            name=name,
            prefix=fresh.prefix,
            permissions=granted,
            created_by=created_by,
            created_at=now,
            last_used_at=None,
            revoked_at=None,
        )
        await ApiKeyRepository(uow).add(api_key, key_hash=fresh.key_hash)
        await uow.commit()
    return CreatedKey(api_key=api_key, key=fresh.key)


async def list_keys(org_id: UUID | None, deps: AuthDeps) -> list[ApiKey]:
    async with deps.uow(OrgScope.everything()) as uow:
        return await ApiKeyRepository(uow).list_keys(org_id)


def _sessions_of(key_id: UUID) -> str:
    return f"api_key:{key_id}"


async def revoke_key(key_id: UUID, deps: AuthDeps) -> None:
    """No new token is issued, and the tokens already issued stop working at once."""
    async with deps.uow(OrgScope.everything()) as uow:
        if not await ApiKeyRepository(uow).revoke(key_id, datetime.now(UTC)):
            raise ApiKeyNotFound(str(key_id))
        await uow.commit()
    await deps.sessions.revoke_group(_sessions_of(key_id))


async def exchange_key(key: str, deps: AuthDeps) -> IssuedToken:
    """Client credentials: a live key of an active org → an access token with its perms."""
    now = datetime.now(UTC)
    async with deps.uow(OrgScope.everything()) as uow:
        keys = ApiKeyRepository(uow)
        api_key = await keys.live(api_key_hash(key))
        org = await IdentityRepository(uow).org(api_key.org_id) if api_key else None
        if api_key is None or org is None or not org.active:
            raise InvalidApiKey()
        await keys.mark_used(api_key.id, now)
        await uow.commit()
    ttl_s = deps.settings.access_token_ttl_s
    session_id = uuid4()
    # Live in Redis for exactly the token's life, so every service's session check passes.
    await deps.sessions.activate(
        session_id, api_key.id, ttl_s=ttl_s, group=_sessions_of(api_key.id)
    )
    return issue_access_token(
        key=(signing := deps.keys.current()).active,
        kid=signing.active_kid,
        issuer=deps.settings.token_issuer,
        audience=deps.settings.token_audience,
        ttl_s=ttl_s,
        user_id=api_key.id,
        session_id=session_id,
        org_id=api_key.org_id,
        org_type=org.type,
        role=None,
        amr=["api_key"],
        now=now,
        permissions=list(api_key.permissions),
    )
