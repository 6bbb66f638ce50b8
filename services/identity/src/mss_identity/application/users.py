"""User creation (the bootstrap admin here; the Users API builds on it)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_contracts.events import AccountUnlocked, EventContext, UserCreated, new_event
from mss_contracts.permissions import OrganizationType, Role, role_allowed_in
from mss_db import OrgScope, UnitOfWorkFactory
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.domain.users import User, UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    user_id: UUID
    created: bool
    password: str | None


async def ensure_super_admin(
    *,
    provider_org_id: UUID,
    provider_name: str,
    email: str,
    password: str | None,
    uow_factory: UnitOfWorkFactory,
    hasher: PasswordHasher,
) -> BootstrapResult:
    """The first super admin of the provider org, created once (never re-passworded)."""
    email = normalize_email(email)
    async with uow_factory(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        # The organization event will confirm this row; version 0 lets it overwrite.
        if await repo.org(provider_org_id) is None:
            await repo.upsert_org(
                org_id=provider_org_id,
                name=provider_name,
                type=OrganizationType.MSS_PROVIDER.value,
                status="active",
                settings={},
                version=0,
            )
        existing = [u for u in await repo.users_by_email(email) if u.org_id == provider_org_id]
        if existing:
            return BootstrapResult(user_id=existing[0].id, created=False, password=None)
        assert role_allowed_in(Role.SUPER_ADMIN, OrganizationType.MSS_PROVIDER)
        chosen = password or secrets.token_urlsafe(18)
        now = datetime.now(UTC)
        user = User(
            id=uuid4(),
            org_id=provider_org_id,
            email=email,
            password_hash=await hasher.hash(chosen),
            first_name="Platform",
            last_name="Administrator",
            role=Role.SUPER_ADMIN,
            status=UserStatus.ACTIVE,
            mfa_enabled=False,
            email_verified=True,
            last_login_at=None,
            last_login_ip=None,
            failed_login_attempts=0,
            locked_until=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        await repo.add_user(user, created_by=None)
        await uow.outbox.add(
            new_event(
                UserCreated(
                    email=user.email,
                    first_name=user.first_name,
                    last_name=user.last_name,
                    role=user.role,
                    status=user.status.value,
                ),
                aggregate_id=user.id,
                organization_id=provider_org_id,
                version=1,
                context=EventContext(),
            )
        )
        await uow.commit()
    return BootstrapResult(user_id=user.id, created=True, password=None if password else chosen)


class UserNotFound(Exception):
    pass


async def unlock_user(
    user_id: UUID, *, uow_factory: UnitOfWorkFactory, scope: OrgScope, ctx: EventContext
) -> User:
    """An administrator lifts a lockout; another tenant's user is simply not found."""
    async with uow_factory(scope) as uow:
        repo = IdentityRepository(uow)
        if not await repo.unlock(user_id, datetime.now(UTC)):
            raise UserNotFound(str(user_id))
        user = await repo.user(user_id)
        assert user is not None
        await uow.outbox.add(
            new_event(
                AccountUnlocked(email=user.email),
                aggregate_id=user.id,
                organization_id=user.org_id,
                version=user.version,
                context=ctx,
            )
        )
        await uow.commit()
    return user
