"""Login and the signed-in user's view of themself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from mss_auth.sessions import SessionStore
from mss_contracts.events import EventContext, LoginFailed, LoginSucceeded, new_event
from mss_db import OrgScope, UnitOfWorkFactory
from mss_identity.adapters.keys import SigningKeys
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.config import IdentitySettings
from mss_identity.domain.tokens import (
    IssuedToken,
    issue_access_token,
    new_refresh_token,
    refresh_token_hash,
)
from mss_identity.domain.users import OrgRef, User, normalize_email


class InvalidCredentials(Exception):
    """Unknown email and wrong password look exactly alike."""


class OrganizationInactive(Exception):
    pass


@dataclass(frozen=True, slots=True)
class AccountChoice:
    organization_id: UUID
    organization_name: str


class AmbiguousAccount(Exception):
    def __init__(self, choices: list[AccountChoice]) -> None:
        super().__init__("This email exists in several organizations: choose one")
        self.choices = choices


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    password: str
    organization_id: UUID | None
    ip_address: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    access: IssuedToken
    refresh_token: str
    user: User
    org: OrgRef
    session_id: UUID


@dataclass(frozen=True, slots=True)
class AuthDeps:
    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    keys: SigningKeys
    sessions: SessionStore
    settings: IdentitySettings


async def login(cmd: Login, deps: AuthDeps, ctx: EventContext) -> LoginResult:
    email = normalize_email(cmd.email)
    async with deps.uow(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        candidates = await repo.users_by_email(email)
        if cmd.organization_id is not None:
            candidates = [u for u in candidates if u.org_id == cmd.organization_id]
        if len(candidates) > 1:
            orgs = [await repo.org(u.org_id) for u in candidates]
            raise AmbiguousAccount([AccountChoice(o.id, o.name) for o in orgs if o is not None])
        user = candidates[0] if candidates else None
        password_ok = await deps.hasher.verify(user.password_hash if user else None, cmd.password)
        org = await repo.org(user.org_id) if user else None
        if user is None or not password_ok or not user.can_log_in() or org is None:
            if user is not None:
                await repo.record_failed_login(user.id)
            await uow.outbox.add(
                new_event(
                    LoginFailed(email=email, reason="invalid_credentials"),
                    aggregate_id=user.id if user else uuid4(),
                    organization_id=user.org_id if user else None,
                    version=user.version if user else 1,
                    context=ctx.model_copy(update={"user_id": user.id if user else None}),
                )
            )
            await uow.commit()
            raise InvalidCredentials()
        if not org.active:
            raise OrganizationInactive("The organization is suspended")

        now = datetime.now(UTC)
        session_id = uuid4()
        refresh = new_refresh_token()
        await repo.add_session(
            session_id=session_id,
            user=user,
            refresh_hash=refresh_token_hash(refresh),
            ip=cmd.ip_address,
            user_agent=cmd.user_agent,
            now=now,
            expires_at=now + timedelta(seconds=deps.settings.session_absolute_ttl_s),
        )
        await repo.record_login(user.id, at=now, ip=cmd.ip_address)
        await uow.outbox.add(
            new_event(
                LoginSucceeded(email=email, mfa_used=False),
                aggregate_id=user.id,
                organization_id=user.org_id,
                version=user.version,
                context=ctx.model_copy(update={"user_id": user.id, "session_id": session_id}),
            )
        )
        # Live in Redis before the token exists, so the first request already passes.
        await deps.sessions.activate(session_id, user.id)
        await uow.commit()

    access = issue_access_token(
        key=deps.keys.active,
        kid=deps.keys.active_kid,
        issuer=deps.settings.token_issuer,
        audience=deps.settings.token_audience,
        ttl_s=deps.settings.access_token_ttl_s,
        user_id=user.id,
        session_id=session_id,
        org_id=user.org_id,
        org_type=org.type,
        role=user.role,
        amr=["pwd"],
        now=now,
    )
    return LoginResult(
        access=access, refresh_token=refresh, user=user, org=org, session_id=session_id
    )


async def current_user(user_id: UUID, deps: AuthDeps, scope: OrgScope) -> tuple[User, OrgRef]:
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(user_id)
        org = await repo.org(user.org_id) if user else None
    if user is None or org is None:
        raise InvalidCredentials()
    return user, org
