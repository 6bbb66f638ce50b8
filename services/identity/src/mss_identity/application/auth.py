"""Login, token refresh, logout and sessions: the life of a signed-in session."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from redis.asyncio import Redis

from mss_auth.sessions import SessionStore
from mss_contracts.events import (
    AccountLocked,
    EventContext,
    EventData,
    LoginFailed,
    LoginSucceeded,
    SessionRevoked,
    new_event,
)
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_identity.adapters.keys import KeyRing
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.events import user_event
from mss_identity.config import IdentitySettings
from mss_identity.domain.mfa import matching_step, use_backup_code
from mss_identity.domain.tokens import (
    IssuedToken,
    issue_access_token,
    new_refresh_token,
    refresh_token_hash,
)
from mss_identity.domain.users import OrgRef, Session, User, locked, normalize_email


class InvalidCredentials(Exception):
    """Unknown email and wrong password look exactly alike."""


class AccountLockedError(Exception):
    def __init__(self, locked_until: datetime) -> None:
        super().__init__("Account temporarily locked after repeated failed logins")
        self.locked_until = locked_until


class OrganizationInactive(Exception):
    pass


class SessionInvalid(Exception):
    """The refresh token is unknown, expired, or its session has ended."""


class RefreshTokenReused(Exception):
    """A rotated refresh token came back: the session is presumed stolen and revoked."""


class SessionNotFound(Exception):
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
    keys: KeyRing
    sessions: SessionStore
    settings: IdentitySettings
    redis: Redis


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """Password accepted; the second factor is still due (`mfaToken`, single use, 5 min)."""

    mfa_token: str


def _access_token(
    deps: AuthDeps,
    *,
    user: User,
    org: OrgRef,
    session_id: UUID,
    now: datetime,
    amr: list[str] | None = None,
) -> IssuedToken:
    return issue_access_token(
        key=(signing := deps.keys.current()).active,
        kid=signing.active_kid,
        issuer=deps.settings.token_issuer,
        audience=deps.settings.token_audience,
        ttl_s=deps.settings.access_token_ttl_s,
        user_id=user.id,
        session_id=session_id,
        org_id=user.org_id,
        org_type=org.type,
        role=user.role,
        amr=amr or ["pwd"],
        now=now,
        mfa_enrollment_required=org.mfa_required and not user.mfa_enabled,
    )


async def _refuse(
    uow: UnitOfWork, user: User | None, email: str, ctx: EventContext, now: datetime
) -> None:
    """Record a failed login (and a lock when it is earned), then commit."""
    locked_until = None
    attempts = 0
    if user is not None:
        attempts, locked_until = await IdentityRepository(uow).fail_login(user.id, now)
    aggregate_id = user.id if user else uuid4()
    org_id = user.org_id if user else None
    version = user.version if user else 1
    context = ctx.model_copy(update={"user_id": user.id if user else None})
    failures: list[EventData] = [LoginFailed(email=email, reason="invalid_credentials")]
    if locked_until is not None:
        failures.append(
            AccountLocked(email=email, locked_until=locked_until, failed_attempts=attempts)
        )
    for data in failures:
        await uow.outbox.add(
            new_event(
                data,
                aggregate_id=aggregate_id,
                organization_id=org_id,
                version=version,
                context=context,
            )
        )
    await uow.commit()


async def login(cmd: Login, deps: AuthDeps, ctx: EventContext) -> LoginResult | MfaChallenge:
    email = normalize_email(cmd.email)
    now = datetime.now(UTC)
    async with deps.uow(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        candidates = await repo.users_by_email(email)
        if cmd.organization_id is not None:
            candidates = [u for u in candidates if u.org_id == cmd.organization_id]
        if len(candidates) > 1:
            orgs = [await repo.org(u.org_id) for u in candidates]
            raise AmbiguousAccount([AccountChoice(o.id, o.name) for o in orgs if o is not None])
        user = candidates[0] if candidates else None
        # The hash runs on every path, so timing does not tell which check failed.
        password_ok = await deps.hasher.verify(user.password_hash if user else None, cmd.password)
        if user is not None and locked(user, now):
            assert user.locked_until is not None
            raise AccountLockedError(user.locked_until)
        org = await repo.org(user.org_id) if user else None
        if user is None or org is None or not password_ok or not user.can_log_in():
            await _refuse(uow, user, email, ctx, now)
            raise InvalidCredentials()
        if not org.active:
            raise OrganizationInactive("The organization is suspended")

        if user.mfa_enabled:
            await uow.commit()
            return MfaChallenge(mfa_token=await mfa_challenge(deps, user.id))
        result = await _open_session(
            uow, deps, user=user, org=org, cmd=cmd, ctx=ctx, now=now, amr=["pwd"]
        )
        await uow.commit()
    return result


async def _open_session(
    uow: UnitOfWork,
    deps: AuthDeps,
    *,
    user: User,
    org: OrgRef,
    cmd: Login,
    ctx: EventContext,
    now: datetime,
    amr: list[str],
) -> LoginResult:
    """A new session and its first token pair; the caller commits."""
    repo = IdentityRepository(uow)
    session_id = uuid4()
    refresh = new_refresh_token()
    await repo.add_session(
        session_id=session_id,
        user=user,
        refresh_hash=refresh_token_hash(refresh),
        ip=cmd.ip_address,
        user_agent=cmd.user_agent,
        now=now,
        expires_at=now
        + org.absolute_limit(timedelta(seconds=deps.settings.session_absolute_ttl_s)),
    )
    await repo.add_refresh_token(
        token_hash=refresh_token_hash(refresh),
        session_id=session_id,
        org_id=user.org_id,
        now=now,
    )
    await repo.record_login(user.id, at=now, ip=cmd.ip_address)
    await uow.outbox.add(
        user_event(
            user,
            LoginSucceeded(email=user.email, mfa_used="mfa" in amr),
            ctx.model_copy(update={"user_id": user.id, "session_id": session_id}),
        )
    )
    # Live in Redis before the token exists, so the first request already passes.
    await deps.sessions.activate(session_id, user.id)
    return LoginResult(
        access=_access_token(deps, user=user, org=org, session_id=session_id, now=now, amr=amr),
        refresh_token=refresh,
        user=user,
        org=org,
        session_id=session_id,
    )


# --- second factor at login ---------------------------------------------------------------

MFA_TOKEN_TTL_S = 300
MFA_MAX_ATTEMPTS = 5
MFA_ATTEMPT_WINDOW_S = 300


class InvalidMfaCode(Exception):
    pass


class MfaThrottled(Exception):
    pass


def _mfa_token_key(token: str) -> str:
    return f"mfa:token:{refresh_token_hash(token)}"


async def mfa_challenge(deps: AuthDeps, user_id: UUID) -> str:
    token = new_refresh_token()
    await deps.redis.set(_mfa_token_key(token), str(user_id), ex=MFA_TOKEN_TTL_S)
    return token


async def _count_mfa_attempt(deps: AuthDeps, user_id: UUID) -> None:
    """Wrong codes per user in Redis (`mfa:attempts:{userId}`): 5 per 5 minutes."""
    key = f"mfa:attempts:{user_id}"
    attempts = await deps.redis.incr(key)
    if attempts == 1:
        await deps.redis.expire(key, MFA_ATTEMPT_WINDOW_S)


async def _mfa_throttled(deps: AuthDeps, user_id: UUID) -> bool:
    value = await deps.redis.get(f"mfa:attempts:{user_id}")
    return value is not None and int(value) >= MFA_MAX_ATTEMPTS


async def verify_second_factor(uow: UnitOfWork, user_id: UUID, code: str, now: datetime) -> bool:
    """Accept a TOTP code once, or consume a backup code; the caller commits."""
    repo = IdentityRepository(uow)
    state = await repo.mfa_state(user_id)
    if state is None or state.secret is None:
        return False
    step = matching_step(state.secret, code.strip(), after_step=state.last_step)
    if step is not None:
        await repo.save_mfa(user_id, replace(state, last_step=step), now)
        return True
    remaining = use_backup_code(state.backup_hashes, code.strip()) if state.enabled else None
    if remaining is not None:
        await repo.save_mfa(user_id, replace(state, backup_hashes=remaining), now)
        return True
    return False


async def complete_mfa(
    mfa_token: str, code: str, cmd: Login, deps: AuthDeps, ctx: EventContext
) -> LoginResult:
    raw_user = await deps.redis.get(_mfa_token_key(mfa_token))
    if raw_user is None:
        raise SessionInvalid()
    user_id = UUID(raw_user.decode() if isinstance(raw_user, bytes) else str(raw_user))
    if await _mfa_throttled(deps, user_id):
        raise MfaThrottled()
    now = datetime.now(UTC)
    async with deps.uow(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(user_id)
        org = await repo.org(user.org_id) if user else None
        if user is None or org is None or not user.can_log_in() or not org.active:
            raise SessionInvalid()
        if not await verify_second_factor(uow, user_id, code, now):
            await _count_mfa_attempt(deps, user_id)
            raise InvalidMfaCode()
        # Single use: whoever deletes the token first completes the login.
        if not await deps.redis.delete(_mfa_token_key(mfa_token)):
            raise SessionInvalid()
        await deps.redis.delete(f"mfa:attempts:{user_id}")
        result = await _open_session(
            uow, deps, user=user, org=org, cmd=cmd, ctx=ctx, now=now, amr=["pwd", "mfa"]
        )
        await uow.commit()
    return result


async def _revoke(
    uow: UnitOfWork,
    deps: AuthDeps,
    ended: list[tuple[UUID, UUID, UUID]],
    reason: str,
    ctx: EventContext,
) -> None:
    for session_id, user_id, org_id in ended:
        await deps.sessions.revoke(session_id)
        await uow.outbox.add(
            new_event(
                SessionRevoked(session_id=session_id, reason=reason),
                aggregate_id=user_id,
                organization_id=org_id,
                version=1,
                context=ctx,
            )
        )


async def refresh(refresh_token: str, deps: AuthDeps, ctx: EventContext) -> LoginResult:
    """Rotate: the presented token dies, a new pair is issued (RFC 9700 §4.14.2)."""
    presented = refresh_token_hash(refresh_token)
    now = datetime.now(UTC)
    platform_idle = timedelta(seconds=deps.settings.session_idle_ttl_s)
    async with deps.uow(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        known = await repo.refresh_token(presented)
        if known is None:
            raise SessionInvalid()
        session_id, rotated_at = known
        session = await repo.session(session_id)
        if session is None:
            raise SessionInvalid()
        if rotated_at is not None:
            ended = await repo.revoke_sessions(
                session_id=session_id, reason="refresh_token_reused", now=now
            )
            await _revoke(uow, deps, ended, "refresh_token_reused", ctx)
            await uow.commit()
            raise RefreshTokenReused()
        user = await repo.user(session.user_id)
        org = await repo.org(session.org_id)
        if (
            org is None
            or not session.usable(now, org.idle_limit(platform_idle))
            or user is None
            or not org.active
            or not user.can_log_in()
        ):
            raise SessionInvalid()
        new_refresh = new_refresh_token()
        await repo.rotate_refresh_token(presented, now)
        await repo.add_refresh_token(
            token_hash=refresh_token_hash(new_refresh),
            session_id=session_id,
            org_id=session.org_id,
            now=now,
        )
        await repo.touch_session(session_id, refresh_hash=refresh_token_hash(new_refresh), now=now)
        await deps.sessions.activate(session_id, user.id)
        await uow.commit()
    return LoginResult(
        access=_access_token(deps, user=user, org=org, session_id=session_id, now=now),
        refresh_token=new_refresh,
        user=user,
        org=org,
        session_id=session_id,
    )


async def end_sessions(
    deps: AuthDeps,
    ctx: EventContext,
    *,
    scope: OrgScope,
    reason: str,
    session_id: UUID | None = None,
    user_id: UUID | None = None,
) -> int:
    """Revoke sessions in the database and in Redis at once; returns how many ended."""
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        ended = await repo.revoke_sessions(
            session_id=session_id, user_id=user_id, reason=reason, now=datetime.now(UTC)
        )
        await _revoke(uow, deps, ended, reason, ctx)
        await uow.commit()
    return len(ended)


async def own_sessions(user_id: UUID, deps: AuthDeps, scope: OrgScope) -> list[Session]:
    async with deps.uow(scope) as uow:
        return await IdentityRepository(uow).sessions_of(user_id)


async def end_own_session(
    user_id: UUID, session_id: UUID, deps: AuthDeps, ctx: EventContext, scope: OrgScope
) -> None:
    """A user ends one of their own sessions; anyone else's is simply not found."""
    if not any(s.id == session_id for s in await own_sessions(user_id, deps, scope)):
        raise SessionNotFound(str(session_id))
    await end_sessions(deps, ctx, scope=scope, reason="ended_by_user", session_id=session_id)


async def current_user(user_id: UUID, deps: AuthDeps, scope: OrgScope) -> tuple[User, OrgRef]:
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(user_id)
        org = await repo.org(user.org_id) if user else None
    if user is None or org is None:
        raise InvalidCredentials()
    return user, org


@dataclass(frozen=True, slots=True)
class Me:
    """The signed-in user acting on their own account, through the session it is using."""

    user_id: UUID
    session_id: UUID
    scope: OrgScope
    ctx: EventContext


async def end_other_sessions(me: Me, deps: AuthDeps, reason: str) -> None:
    """After a password or MFA change the user's other sessions end (ASVS V7.4.3)."""
    for session in await own_sessions(me.user_id, deps, me.scope):
        if session.id != me.session_id:
            await end_sessions(deps, me.ctx, scope=me.scope, reason=reason, session_id=session.id)
