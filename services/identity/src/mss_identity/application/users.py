"""Users: the bootstrap admin, and the Users API (list, invite, update, deactivate, …).

Scope first (another tenant's user or organization is simply not found), then the role
rules: a role must exist in the organization's type, and nobody hands out a role with
permissions they do not hold themselves.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from mss_auth.sessions import SessionStore
from mss_contracts.events import (
    AccountUnlocked,
    EventContext,
    UserCreated,
    UserDeleted,
    UserInvited,
    new_event,
)
from mss_contracts.permissions import (
    OrganizationType,
    Role,
    has_permission,
    may_grant,
    role_allowed_in,
)
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository, UserFilter
from mss_identity.application.auth import end_sessions
from mss_identity.application.events import user_event, user_updated
from mss_identity.application.recovery import (
    add_reset_request,
    add_verification_request,
    issue_user_token,
)
from mss_identity.domain.errors import (
    EmailTaken,
    OrganizationNotFound,
    ProfileChangeRefused,
    RoleNotAllowed,
    RoleNotGrantable,
    SelfChangeRefused,
    UpdateNotPermitted,
    UserNotFound,
    UserStateConflict,
)
from mss_identity.domain.user_tokens import TokenPurpose
from mss_identity.domain.users import OrgRef, User, UserStatus, normalize_email


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
        # Seeds the directory only where it holds nothing (any real state has version ≥ 1,
        # which the organization event or a fetch will bring); no fetch: this runs before
        # the services do.
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


# --- the Users API --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who calls the Users API: their id, home org, permissions and org scope."""

    user_id: UUID
    org_id: UUID
    permissions: frozenset[str]
    role: Role | None
    scope: OrgScope


@dataclass(frozen=True, slots=True)
class NewUser:
    organization_id: UUID | None
    email: str
    first_name: str
    last_name: str
    role: Role


@dataclass(frozen=True, slots=True)
class UserChanges:
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    role: Role | None = None
    status: UserStatus | None = None


async def _visible_org(repo: IdentityRepository, org_id: UUID, scope: OrgScope) -> OrgRef:
    org = await repo.org(org_id) if scope.allows(org_id) else None
    if org is None:
        raise OrganizationNotFound()
    return org


async def _managed_user(repo: IdentityRepository, user_id: UUID, actor: Actor) -> User:
    """The user, locked, if in scope and not above the actor's own permissions."""
    user = await repo.locked_user(user_id)
    if user is None or not actor.scope.allows(user.org_id):
        raise UserNotFound()
    if not may_grant(actor.role, user.role):
        raise RoleNotGrantable(user.role)
    return user


async def unlock_user(user_id: UUID, actor: Actor, *, uow: UnitOfWork, ctx: EventContext) -> User:
    """An administrator lifts a lockout, under the rule of every action on a user: another
    tenant's user is not found, and a user above the actor is not the actor's to unlock."""
    repo = IdentityRepository(uow)
    await _managed_user(repo, user_id, actor)
    await repo.unlock(user_id, datetime.now(UTC))
    user = await repo.user(user_id)
    assert user is not None
    await uow.outbox.add(user_event(user, AccountUnlocked(email=user.email), ctx))
    await uow.commit()
    return user


def _check_role(role: Role, org: OrgRef, actor: Actor) -> None:
    if not role_allowed_in(role, org.type):
        raise RoleNotAllowed(role, org.type)
    if not may_grant(actor.role, role):
        raise RoleNotGrantable(role)


async def list_users(
    where: UserFilter, *, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[User], int]:
    return await IdentityRepository(uow).list_users(where, offset=offset, limit=limit)


async def list_org_users(
    org_id: UUID, where: UserFilter, *, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[User], int]:
    """The users of one organization; an organization out of scope is not found."""
    repo = IdentityRepository(uow)
    await _visible_org(repo, org_id, where.scope)
    return await repo.list_users(where, offset=offset, limit=limit)


async def get_user(user_id: UUID, *, scope: OrgScope, uow: UnitOfWork) -> User:
    user = await IdentityRepository(uow).user(user_id)
    if user is None or not scope.allows(user.org_id):
        raise UserNotFound()
    return user


async def create_user(cmd: NewUser, actor: Actor, *, uow: UnitOfWork, ctx: EventContext) -> User:
    """Invite a user: status `invited`, no password, a 7-day single-use invitation token."""
    email = normalize_email(cmd.email)
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    org = await _visible_org(repo, cmd.organization_id or actor.org_id, actor.scope)
    _check_role(cmd.role, org, actor)
    if await repo.email_taken(org.id, email):
        raise EmailTaken(email)
    user = User(
        id=uuid4(),
        org_id=org.id,
        email=email,
        password_hash=None,
        first_name=cmd.first_name,
        last_name=cmd.last_name,
        role=cmd.role,
        status=UserStatus.INVITED,
        mfa_enabled=False,
        email_verified=False,
        last_login_at=None,
        last_login_ip=None,
        failed_login_attempts=0,
        locked_until=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await repo.add_user(user, created_by=actor.user_id)
    token, expires_at = await issue_user_token(repo, user, TokenPurpose.INVITATION, now)
    for data in (
        UserCreated(
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            status=user.status.value,
        ),
        UserInvited(
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            invitation_token=token,
            expires_at=expires_at,
        ),
    ):
        await uow.outbox.add(user_event(user, data, ctx))
    await uow.commit()
    return user


async def _deactivate(uow: UnitOfWork, user: User, now: datetime) -> User:
    repo = IdentityRepository(uow)
    await repo.use_user_tokens(user.id, now)
    return await repo.change_user(user.id, now, status=UserStatus.INACTIVE.value)


async def update_user(
    user_id: UUID,
    changes: UserChanges,
    actor: Actor,
    *,
    uow: UnitOfWork,
    sessions: SessionStore,
    ctx: EventContext,
) -> User:
    """Email (unverified until the mailed link is used), names, role (fit for the org,
    grantable by the actor), status active/inactive.

    A change of role or status ends every session of the user at once, so the next request
    in any service runs with what the user is now (the access token's claims are not read
    again before it expires). Without `users:update`, a user changes its own names only.
    """
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    if has_permission(actor.permissions, "users:update"):
        user = await _managed_user(repo, user_id, actor)
    else:
        user = await _own_profile(repo, user_id, changes, actor)
    values: dict[str, Any] = {}
    changed: list[str] = []
    deactivated = False
    email = normalize_email(changes.email) if changes.email is not None else None
    if email is not None and email != user.email:
        if await repo.email_taken(user.org_id, email):
            raise EmailTaken(email)
        values.update(email=email, email_verified=False)
        changed.append("email")
    if changes.first_name is not None and changes.first_name != user.first_name:
        values["first_name"] = changes.first_name
        changed.append("firstName")
    if changes.last_name is not None and changes.last_name != user.last_name:
        values["last_name"] = changes.last_name
        changed.append("lastName")
    if changes.role is not None and changes.role is not user.role:
        if user.id == actor.user_id:
            raise SelfChangeRefused("You cannot change your own role")
        org = await repo.org(user.org_id)
        if org is None:
            raise OrganizationNotFound()
        _check_role(changes.role, org, actor)
        values["role"] = changes.role.value
        changed.append("role")
    if changes.status is not None and changes.status is not user.status:
        if changes.status is UserStatus.INACTIVE:
            if user.id == actor.user_id:
                raise SelfChangeRefused("You cannot deactivate yourself")
            deactivated = True
        elif changes.status is UserStatus.ACTIVE:
            if user.status is UserStatus.INVITED:
                raise UserStateConflict("An invited user becomes active by accepting")
        else:
            raise UserStateConflict(f"Status {changes.status.value} cannot be set")
        # A reactivated user who never set a password is still only invited.
        target: UserStatus = changes.status
        if target is UserStatus.ACTIVE and user.password_hash is None:
            target = UserStatus.INVITED
        if target is not user.status:
            values["status"] = target.value
            changed.append("status")
    if not values:
        return user
    if deactivated:
        await repo.use_user_tokens(user.id, now)
    updated = await repo.change_user(user.id, now, **values)
    await uow.outbox.add(user_updated(updated, changed, ctx))
    if "email" in changed and updated.status is UserStatus.ACTIVE:
        # An invited user's address is verified by accepting the invitation instead.
        await add_verification_request(uow, updated, ctx, now)
    ending = _sessions_end_because(changed, deactivated=deactivated)
    if ending is not None:
        await end_sessions(uow, sessions, ctx, reason=ending, user_id=user.id)
    await uow.commit()
    return updated


def _sessions_end_because(changed: list[str], *, deactivated: bool) -> str | None:
    """Why the user's sessions end after these changes (None: they go on)."""
    if deactivated:
        return "user_deactivated"
    if "role" in changed:
        return "role_changed"
    if "status" in changed:
        return "status_changed"
    return None


async def _own_profile(
    repo: IdentityRepository, user_id: UUID, changes: UserChanges, actor: Actor
) -> User:
    """The caller itself, when it changes only its names (every user may, API.md); anyone
    else, or any other field, needs `users:update`."""
    if user_id != actor.user_id:
        raise UpdateNotPermitted()
    others = (changes.email, changes.role, changes.status)
    if any(value is not None for value in others):
        raise ProfileChangeRefused()
    user = await repo.locked_user(user_id)
    if user is None or not actor.scope.allows(user.org_id):
        raise UserNotFound()
    return user


async def delete_user(
    user_id: UUID, actor: Actor, *, uow: UnitOfWork, sessions: SessionStore, ctx: EventContext
) -> None:
    """Deactivate (the row stays for the audit trail) and end every session at once."""
    now = datetime.now(UTC)
    user = await _managed_user(IdentityRepository(uow), user_id, actor)
    if user.id == actor.user_id:
        raise SelfChangeRefused("You cannot delete yourself")
    if user.status is not UserStatus.INACTIVE:
        updated = await _deactivate(uow, user, now)
        await uow.outbox.add(user_event(updated, UserDeleted(email=updated.email), ctx))
    await end_sessions(uow, sessions, ctx, reason="user_deleted", user_id=user.id)
    await uow.commit()


async def admin_reset_password(
    user_id: UUID, actor: Actor, *, uow: UnitOfWork, ctx: EventContext
) -> None:
    """Mail the user a password-reset link (30 min); the administrator never sees it."""
    user = await _managed_user(IdentityRepository(uow), user_id, actor)
    if user.status is UserStatus.INACTIVE:
        raise UserStateConflict("The user is inactive")
    await add_reset_request(uow, user, ctx, datetime.now(UTC))
    await uow.commit()


async def revoke_user_sessions(
    user_id: UUID, actor: Actor, *, uow: UnitOfWork, sessions: SessionStore, ctx: EventContext
) -> int:
    """An administrator ends every session of a user (ASVS V7.4.5); returns how many."""
    await _managed_user(IdentityRepository(uow), user_id, actor)
    revoked = await end_sessions(uow, sessions, ctx, reason="revoked_by_admin", user_id=user_id)
    await uow.commit()
    return revoked
