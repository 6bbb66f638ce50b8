"""Login, token refresh, logout and sessions: the life of a signed-in session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NoReturn
from uuid import UUID, uuid4

from redis.asyncio import Redis

from mss_auth.sessions import SessionStore
from mss_contracts.events import AccountLocked as AccountLockedEvent
from mss_contracts.events import (
    EventContext,
    EventData,
    LoginFailed,
    LoginSucceeded,
    SessionRevoked,
    new_event,
)
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_identity.adapters.keys import TokenIssuer
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.adapters.throttles import Lockout, Throttle, UnknownEmailLockouts
from mss_identity.application.events import user_event
from mss_identity.application.refusals import Actor, Refusals
from mss_identity.domain.errors import (
    AccountLocked,
    AmbiguousAccount,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidMfaToken,
    LoginBudgetSpent,
    MfaThrottled,
    OrganizationInactive,
    RefreshTokenReused,
    SessionInvalid,
    SessionNotFound,
)
from mss_identity.domain.mfa import (
    ATTEMPT_WINDOW_S,
    CHALLENGE_TTL_S,
    MAX_WRONG_CODES,
    matching_step,
    use_backup_code,
)
from mss_identity.domain.tokens import (
    IssuedToken,
    new_refresh_token,
    refresh_token_hash,
)
from mss_identity.domain.users import OrgRef, Session, User, locked, normalize_email


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    password: str
    organization_id: UUID | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    access: IssuedToken
    refresh_token: str
    user: User
    org: OrgRef
    session_id: UUID


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """Password accepted; the second factor is still due (`mfaToken`, single use, 5 min)."""

    mfa_token: str


@dataclass(frozen=True, slots=True)
class ApiKeyRef:
    """The API key a token was exchanged from, and the one organization it acts for."""

    key_id: UUID
    org_id: UUID


@dataclass(frozen=True, slots=True)
class Me:
    """The signed-in user acting on their own account, through the session it is using."""

    user_id: UUID
    session_id: UUID
    ctx: EventContext


def _access_token(
    tokens: TokenIssuer,
    *,
    user: User,
    org: OrgRef,
    session_id: UUID,
    now: datetime,
    amr: list[str] | None = None,
) -> IssuedToken:
    return tokens.access_token(
        subject=user.id,
        session_id=session_id,
        org_id=user.org_id,
        org_type=org.type,
        role=user.role,
        amr=amr or ["pwd"],
        now=now,
        mfa_enrollment_required=org.mfa_required and not user.mfa_enabled,
    )


@dataclass(frozen=True, slots=True)
class LoginGuards:
    """What a login counts in Redis besides the accounts' own lockout: the failed logins of
    each client address (a slow spray's budget), and the lockout of emails no account has
    (so that they answer exactly as existing ones do)."""

    failures_per_address: Throttle
    unknown_emails: UnknownEmailLockouts


# The budget of a request whose client address is unknown (no peer): one shared bucket.
UNKNOWN_ADDRESS = "unknown"


async def _memberships(
    repo: IdentityRepository, email: str, organization_id: UUID | None
) -> tuple[list[User], dict[UUID, OrgRef]]:
    """Every account of the email (within the organization, if named), and their orgs."""
    users = await repo.users_by_email(email)
    if organization_id is not None:
        users = [u for u in users if u.org_id == organization_id]
    orgs: dict[UUID, OrgRef] = {}
    for user in users:
        org = await repo.org(user.org_id)
        if org is not None:
            orgs[org.id] = org
    return users, orgs


async def _verify_each(hasher: PasswordHasher, users: list[User], password: str) -> list[bool]:
    """The password checked against every account at once, in the hasher's pool.

    Concurrent, so an email of several organizations answers in about the time of one
    verification (as long as the pool has a worker free for each); an unknown email
    verifies against the decoy, so it costs what a single account does.
    """
    if not users:
        await hasher.verify(None, password)
        return []
    return list(await asyncio.gather(*(hasher.verify(u.password_hash, password) for u in users)))


async def _record_failure(
    uow: UnitOfWork, user: User | None, email: str, ctx: EventContext, lockout: Lockout
) -> None:
    """The events of a failed login (and of the lock it earned); the caller commits."""
    aggregate_id = user.id if user else uuid4()
    org_id = user.org_id if user else None
    version = user.version if user else 1
    context = ctx.model_copy(update={"user_id": user.id if user else None})
    failures: list[EventData] = [LoginFailed(email=email, reason="invalid_credentials")]
    if lockout.locked_until is not None:
        failures.append(
            AccountLockedEvent(
                email=email,
                locked_until=lockout.locked_until,
                failed_attempts=lockout.failed_attempts,
            )
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


async def _refuse(
    uow_factory: UnitOfWorkFactory,
    guards: LoginGuards,
    refusals: Refusals,
    users: list[User],
    email: str,
    ctx: EventContext,
    now: datetime,
) -> NoReturn:
    """Count the failure against the address and against each account (an email no
    account has is counted in Redis), commit, and answer 401 as for any failure; each
    account's audit has the refusal (an unknown email's, the platform's)."""
    await guards.failures_per_address.spend(ctx.ip_address or UNKNOWN_ADDRESS)
    async with uow_factory(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        for user in users:
            attempts, locked_until = await repo.fail_login(user.id, now)
            await _record_failure(uow, user, email, ctx, Lockout(attempts, locked_until))
        if not users:
            await _record_failure(
                uow, None, email, ctx, await guards.unknown_emails.fail(email, now)
            )
        await uow.commit()  # the refusal counts although the request fails
    error = InvalidCredentials()
    for user in users:
        refusals.refused(error, user)
    if not users:
        refusals.refused(error, email=email)
    raise error


async def _refuse_locked(
    guards: LoginGuards,
    refusals: Refusals,
    users: list[User],
    email: str,
    locked_until: datetime,
    ctx: EventContext,
) -> NoReturn:
    """A locked account (or unknown email) evaluates no password: 423 until it unlocks."""
    await guards.failures_per_address.spend(ctx.ip_address or UNKNOWN_ADDRESS)
    error = AccountLocked(locked_until)
    for user in users:
        refusals.refused(error, user)
    if not users:
        refusals.refused(error, email=email)
    raise error


async def _choose_membership(
    uow_factory: UnitOfWorkFactory,
    guards: LoginGuards,
    refusals: Refusals,
    candidates: list[User],
    verified: list[bool],
    orgs: dict[UUID, OrgRef],
    email: str,
    ctx: EventContext,
    now: datetime,
) -> NoReturn:
    """An email of several organizations and no organization named: offer the memberships
    the password verified for (active, unlocked ones only), or refuse as any failure."""
    usable = [
        user
        for user, ok in zip(candidates, verified, strict=True)
        if ok and user.can_log_in() and not locked(user, now)
    ]
    if usable:
        raise AmbiguousAccount([orgs[u.org_id] for u in usable if u.org_id in orgs])
    unlocked = [user for user in candidates if not locked(user, now)]
    if not unlocked:
        until = min(u.locked_until for u in candidates if u.locked_until)
        await _refuse_locked(guards, refusals, candidates, email, until, ctx)
    await _refuse(uow_factory, guards, refusals, unlocked, email, ctx, now)


async def login(
    cmd: Login,
    *,
    uow_factory: UnitOfWorkFactory,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    sessions: SessionStore,
    redis: Redis,
    guards: LoginGuards,
    refusals: Refusals,
    ctx: EventContext,
) -> LoginResult | MfaChallenge:
    """Check the password, then open a session, or ask for the second factor; every
    refusal is audited (`refusals`), in memory, so that no path takes longer for it."""
    email = normalize_email(cmd.email)
    now = datetime.now(UTC)
    # A spent budget refuses before any password is checked, the right one included.
    retry_after = await guards.failures_per_address.retry_after(ctx.ip_address or UNKNOWN_ADDRESS)
    if retry_after is not None:
        # No account is looked up: the refusal is the e-mail's (its digest).
        raise refusals.refused(LoginBudgetSpent(retry_after), email=email)
    # Two transactions, read then write: none stays open while argon2 waits for the pool.
    async with uow_factory(OrgScope.everything()) as uow:
        candidates, orgs = await _memberships(IdentityRepository(uow), email, cmd.organization_id)
    # The hash runs on every path, so timing does not tell which check failed.
    verified = await _verify_each(hasher, candidates, cmd.password)
    if not candidates:
        unknown = await guards.unknown_emails.state(email)
        if unknown.locked_until is not None and unknown.locked_until > now:
            await _refuse_locked(guards, refusals, [], email, unknown.locked_until, ctx)
        await _refuse(uow_factory, guards, refusals, [], email, ctx, now)
    if len(candidates) > 1:
        await _choose_membership(
            uow_factory, guards, refusals, candidates, verified, orgs, email, ctx, now
        )
    user, password_ok = candidates[0], verified[0]
    org = orgs.get(user.org_id)
    if user.locked_until is not None and locked(user, now):
        await _refuse_locked(guards, refusals, [user], email, user.locked_until, ctx)
    if org is None or not password_ok or not user.can_log_in():
        await _refuse(uow_factory, guards, refusals, [user], email, ctx, now)
    if not org.active:
        raise refusals.refused(OrganizationInactive(), user)
    if user.mfa_enabled:
        return MfaChallenge(mfa_token=await mfa_challenge(redis, user))
    async with uow_factory(OrgScope.everything()) as uow:
        result = await _open_session(
            uow, tokens, sessions, user=user, org=org, ctx=ctx, now=now, amr=["pwd"]
        )
        await uow.commit()
    return result


async def _open_session(
    uow: UnitOfWork,
    tokens: TokenIssuer,
    sessions: SessionStore,
    *,
    user: User,
    org: OrgRef,
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
        ip=ctx.ip_address,
        user_agent=ctx.user_agent,
        now=now,
        expires_at=now + org.absolute_limit(tokens.session_absolute),
    )
    await repo.add_refresh_token(
        token_hash=refresh_token_hash(refresh),
        session_id=session_id,
        org_id=user.org_id,
        now=now,
    )
    await repo.record_login(user.id, at=now, ip=ctx.ip_address)
    await uow.outbox.add(
        user_event(
            user,
            LoginSucceeded(email=user.email, mfa_used="mfa" in amr),
            ctx.model_copy(update={"user_id": user.id, "session_id": session_id}),
        )
    )
    # Live in Redis before the token exists, so the first request already passes.
    await sessions.activate(session_id, user.id)
    return LoginResult(
        access=_access_token(tokens, user=user, org=org, session_id=session_id, now=now, amr=amr),
        refresh_token=refresh,
        user=user,
        org=org,
        session_id=session_id,
    )


# --- second factor at login ---------------------------------------------------------------


def _mfa_token_key(token: str) -> str:
    return f"mfa:token:{refresh_token_hash(token)}"


def _mfa_attempts_key(user_id: UUID) -> str:
    return f"mfa:attempts:{user_id}"


async def mfa_challenge(redis: Redis, user: User) -> str:
    """The token holds the user and its organization: a throttled attempt is audited in
    the organization's chain without reading the user first."""
    token = new_refresh_token()
    await redis.set(_mfa_token_key(token), f"{user.id} {user.org_id}", ex=CHALLENGE_TTL_S)
    return token


def _challenged(raw: bytes | str) -> Actor:
    """Who an `mfaToken` was issued to (a token of before the organization was added to
    it holds the user alone)."""
    user_id, _, org_id = (raw.decode() if isinstance(raw, bytes) else str(raw)).partition(" ")
    return Actor(user_id=UUID(user_id), org_id=UUID(org_id) if org_id else None)


async def _count_mfa_attempt(redis: Redis, user_id: UUID) -> None:
    """Wrong codes per user in Redis (`mfa:attempts:{userId}`): 5 per 5 minutes."""
    attempts = await redis.incr(_mfa_attempts_key(user_id))
    if attempts == 1:
        await redis.expire(_mfa_attempts_key(user_id), ATTEMPT_WINDOW_S)


async def _mfa_throttled(redis: Redis, user_id: UUID) -> bool:
    value = await redis.get(_mfa_attempts_key(user_id))
    return value is not None and int(value) >= MAX_WRONG_CODES


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
    mfa_token: str,
    code: str,
    *,
    uow: UnitOfWork,
    tokens: TokenIssuer,
    sessions: SessionStore,
    redis: Redis,
    refusals: Refusals,
    ctx: EventContext,
) -> LoginResult:
    """The second factor of a login; every refusal is audited (`refusals`), an unknown
    (expired, used) token's as no one's: nothing tells whose it was."""
    raw_user = await redis.get(_mfa_token_key(mfa_token))
    if raw_user is None:
        raise refusals.refused(InvalidMfaToken())
    challenged = _challenged(raw_user)
    user_id = challenged.user_id
    if await _mfa_throttled(redis, user_id):
        raise refusals.refused(MfaThrottled(), challenged)
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    user = await repo.user(user_id)
    org = await repo.org(user.org_id) if user else None
    if user is None or org is None or not user.can_log_in() or not org.active:
        raise refusals.refused(InvalidMfaToken(), user or challenged)
    if not await verify_second_factor(uow, user_id, code, now):
        await _count_mfa_attempt(redis, user_id)
        raise refusals.refused(InvalidMfaCode(), user)
    # Single use: whoever deletes the token first completes the login.
    if not await redis.delete(_mfa_token_key(mfa_token)):
        raise refusals.refused(InvalidMfaToken(), user)
    await redis.delete(_mfa_attempts_key(user_id))
    result = await _open_session(
        uow, tokens, sessions, user=user, org=org, ctx=ctx, now=now, amr=["pwd", "mfa"]
    )
    await uow.commit()
    return result


# --- refresh, logout and sessions ---------------------------------------------------------


async def end_sessions(
    uow: UnitOfWork,
    sessions: SessionStore,
    ctx: EventContext,
    *,
    reason: str,
    session_id: UUID | None = None,
    user_id: UUID | None = None,
) -> int:
    """Revoke sessions in the database and in Redis at once; the caller commits.

    Returns how many ended.
    """
    ended = await IdentityRepository(uow).revoke_sessions(
        session_id=session_id, user_id=user_id, reason=reason, now=datetime.now(UTC)
    )
    for ended_id, owner_id, org_id in ended:
        await sessions.revoke(ended_id)
        await uow.outbox.add(
            new_event(
                SessionRevoked(session_id=ended_id, reason=reason),
                aggregate_id=owner_id,
                organization_id=org_id,
                version=1,
                context=ctx,
            )
        )
    return len(ended)


async def end_other_sessions(
    me: Me, *, uow: UnitOfWork, sessions: SessionStore, reason: str
) -> None:
    """After a password or MFA change the user's other sessions end (ASVS V7.4.3); the
    caller commits."""
    for session in await IdentityRepository(uow).sessions_of(me.user_id):
        if session.id != me.session_id:
            await end_sessions(uow, sessions, me.ctx, reason=reason, session_id=session.id)


async def refresh(
    refresh_token: str,
    *,
    uow: UnitOfWork,
    tokens: TokenIssuer,
    sessions: SessionStore,
    refusals: Refusals,
    ctx: EventContext,
) -> LoginResult:
    """Rotate: the presented token dies, a new pair is issued (RFC 9700 §4.14.2). A reused
    token (presumed stolen) is audited as a refusal of the session's user."""
    presented = refresh_token_hash(refresh_token)
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    known = await repo.refresh_token(presented)
    if known is None:
        raise SessionInvalid()
    session_id, rotated_at = known
    session = await repo.session(session_id)
    if session is None:
        raise SessionInvalid()
    if rotated_at is not None:
        await end_sessions(uow, sessions, ctx, reason="refresh_token_reused", session_id=session_id)
        await uow.commit()  # the revocation stands although the request is refused
        raise refusals.refused(
            RefreshTokenReused(), Actor(user_id=session.user_id, org_id=session.org_id)
        )
    user = await repo.user(session.user_id)
    org = await repo.org(session.org_id)
    if (
        org is None
        or not session.usable(now, org.idle_limit(tokens.session_idle))
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
    await sessions.activate(session_id, user.id)
    await uow.commit()
    return LoginResult(
        access=_access_token(tokens, user=user, org=org, session_id=session_id, now=now),
        refresh_token=new_refresh,
        user=user,
        org=org,
        session_id=session_id,
    )


async def logout(
    session_id: UUID,
    *,
    uow: UnitOfWork,
    sessions: SessionStore,
    ctx: EventContext,
    api_key: ApiKeyRef | None = None,
) -> None:
    """End the session of the token used. An API key's token has no session row: its
    Redis key is all there is, and the key itself lives on."""
    await sessions.revoke(session_id)
    await end_sessions(uow, sessions, ctx, reason="logout", session_id=session_id)
    if api_key is not None:
        await uow.outbox.add(
            new_event(
                SessionRevoked(session_id=session_id, reason="logout"),
                aggregate_id=api_key.key_id,
                aggregate_type="api_key",
                organization_id=api_key.org_id,
                version=1,
                context=ctx,
            )
        )
    await uow.commit()


async def own_sessions(user_id: UUID, *, uow: UnitOfWork) -> list[Session]:
    return await IdentityRepository(uow).sessions_of(user_id)


async def end_own_session(
    user_id: UUID,
    session_id: UUID,
    *,
    uow: UnitOfWork,
    sessions: SessionStore,
    ctx: EventContext,
) -> None:
    """A user ends one of their own sessions; anyone else's is simply not found."""
    if not any(s.id == session_id for s in await own_sessions(user_id, uow=uow)):
        raise SessionNotFound()
    await end_sessions(uow, sessions, ctx, reason="ended_by_user", session_id=session_id)
    await uow.commit()


async def current_user(user_id: UUID, *, uow: UnitOfWork) -> tuple[User, OrgRef]:
    repo = IdentityRepository(uow)
    user = await repo.user(user_id)
    org = await repo.org(user.org_id) if user else None
    if user is None or org is None:
        raise InvalidCredentials()
    return user, org
