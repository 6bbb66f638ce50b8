"""Mailed single-use tokens: forgotten password, invitation acceptance, email verification.

The tokens travel only in the events the mailer reads (fields marked sensitive, redacted
wherever events are stored for audit); the database keeps their SHA-256 hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from mss_auth.sessions import SessionStore
from mss_contracts.events import (
    EmailVerificationRequested,
    EventContext,
    PasswordChanged,
    PasswordResetRequested,
)
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.adapters.throttles import Throttle
from mss_identity.application.auth import end_sessions
from mss_identity.application.events import user_event, user_updated
from mss_identity.application.passwords import hash_new_password
from mss_identity.application.refusals import Refusals
from mss_identity.domain.errors import InvalidUserToken
from mss_identity.domain.user_tokens import (
    LIFETIMES,
    PASSWORD_SETTING,
    TokenPurpose,
    new_user_token,
    user_token_hash,
)
from mss_identity.domain.users import User, UserStatus, normalize_email


async def issue_user_token(
    repo: IdentityRepository, user: User, purpose: TokenPurpose, now: datetime
) -> tuple[str, datetime]:
    """A fresh token (only its hash stored); earlier unused ones of this purpose die."""
    await repo.use_user_tokens(user.id, now, frozenset({purpose}))
    token = new_user_token()
    expires_at = now + LIFETIMES[purpose]
    await repo.add_user_token(
        token_hash=user_token_hash(token),
        user=user,
        purpose=purpose,
        expires_at=expires_at,
        now=now,
    )
    return token, expires_at


async def add_reset_request(uow: UnitOfWork, user: User, ctx: EventContext, now: datetime) -> None:
    """Issue a password-reset token and the event that mails it; the caller commits."""
    token, expires_at = await issue_user_token(
        IdentityRepository(uow), user, TokenPurpose.PASSWORD_RESET, now
    )
    await uow.outbox.add(
        user_event(
            user,
            PasswordResetRequested(email=user.email, reset_token=token, expires_at=expires_at),
            ctx,
        )
    )


async def forgot_password(
    email: str, *, uow: UnitOfWork, mails: Throttle, ctx: EventContext
) -> None:
    """Mail a reset link to every active account with this email, within each account's
    budget of mails (a flood of requests is not a flood of mails); silent otherwise, so
    the answer never tells whether an account exists or was throttled."""
    address = normalize_email(email)
    now = datetime.now(UTC)
    for user in await IdentityRepository(uow).users_by_email(address):
        if user.status is not UserStatus.ACTIVE:
            continue
        if await mails.spend(str(user.id)) <= mails.budget.limit:
            await add_reset_request(uow, user, ctx, now)
    await uow.commit()


async def _token_user(
    repo: IdentityRepository,
    token: str,
    purposes: frozenset[TokenPurpose],
    now: datetime,
    refusals: Refusals,
) -> User:
    """The user a usable token is for; a refused token is audited (the user's, when the
    token is theirs but they may no longer use it; no one's otherwise)."""
    found = await repo.usable_user_token(user_token_hash(token), purposes, now)
    user = await repo.locked_user(found.user_id) if found else None
    if user is None or user.status is UserStatus.INACTIVE:
        raise refusals.refused(InvalidUserToken(), user)
    return user


async def reset_password(
    token: str,
    new: str,
    *,
    uow_factory: UnitOfWorkFactory,
    hasher: PasswordHasher,
    sessions: SessionStore,
    refusals: Refusals,
    ctx: EventContext,
) -> User:
    """Set a password with a reset or invitation token (single use).

    An invited user becomes active; the email is verified (the token came by mail); the
    lockout is lifted and every existing session ends. MFA is untouched, so the next
    login still asks for the second factor.
    """
    now = datetime.now(UTC)
    # Two transactions, read then write: none stays open (nor holds the token's row lock)
    # while argon2 waits for the pool; the write finds the token unused again or refuses.
    async with uow_factory(OrgScope.everything()) as uow:
        holder = await _token_user(IdentityRepository(uow), token, PASSWORD_SETTING, now, refusals)
    password_hash = await hash_new_password(new, holder, hasher)
    async with uow_factory(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        user = await _token_user(repo, token, PASSWORD_SETTING, now, refusals)
        await repo.use_user_tokens(user.id, now, PASSWORD_SETTING)
        values: dict[str, Any] = {
            "password_hash": password_hash,
            "email_verified": True,
            "failed_login_attempts": 0,
            "locked_until": None,
        }
        changed: list[str] = []
        if user.status is UserStatus.INVITED:
            values["status"] = UserStatus.ACTIVE.value
            changed.append("status")
        if not user.email_verified:
            changed.append("emailVerified")
        updated = await repo.change_user(user.id, now, **values)
        context = ctx.model_copy(update={"user_id": user.id})
        await uow.outbox.add(user_event(updated, PasswordChanged(email=updated.email), context))
        if changed:
            await uow.outbox.add(user_updated(updated, changed, context))
        await end_sessions(uow, sessions, context, reason="password_reset", user_id=user.id)
        await uow.commit()
    return updated


async def add_verification_request(
    uow: UnitOfWork, user: User, ctx: EventContext, now: datetime
) -> None:
    """Issue an email-verification token and the event that mails it; the caller commits."""
    token, expires_at = await issue_user_token(
        IdentityRepository(uow), user, TokenPurpose.EMAIL_VERIFICATION, now
    )
    await uow.outbox.add(
        user_event(
            user,
            EmailVerificationRequested(
                email=user.email, verification_token=token, expires_at=expires_at
            ),
            ctx,
        )
    )


async def request_email_verification(user_id: UUID, *, uow: UnitOfWork, ctx: EventContext) -> bool:
    """Mail a verification link to the user's address; False when already verified."""
    user = await IdentityRepository(uow).user(user_id)
    if user is None or user.status is UserStatus.INACTIVE:
        raise InvalidUserToken()
    if user.email_verified:
        return False
    await add_verification_request(uow, user, ctx, datetime.now(UTC))
    await uow.commit()
    return True


async def verify_email(
    token: str, *, uow: UnitOfWork, refusals: Refusals, ctx: EventContext
) -> None:
    purposes = frozenset({TokenPurpose.EMAIL_VERIFICATION})
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    user = await _token_user(repo, token, purposes, now, refusals)
    await repo.use_user_tokens(user.id, now, purposes)
    if not user.email_verified:
        updated = await repo.change_user(user.id, now, email_verified=True)
        await uow.outbox.add(
            user_updated(updated, ["emailVerified"], ctx.model_copy(update={"user_id": user.id}))
        )
    await uow.commit()
