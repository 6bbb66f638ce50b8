"""Changing one's own password: the policy holds, and every other session ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from mss_auth.sessions import SessionStore
from mss_contracts.events import PasswordChanged
from mss_db import OrgScope, UnitOfWorkFactory
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.adapters.throttles import Throttle
from mss_identity.application.auth import Me, end_other_sessions
from mss_identity.application.events import user_event
from mss_identity.application.refusals import Actor, Refusals
from mss_identity.domain.errors import (
    InvalidCredentials,
    PasswordAttemptsThrottled,
    WeakPassword,
)
from mss_identity.domain.passwords import password_problem
from mss_identity.domain.users import User


async def hash_new_password(new: str, user: User, hasher: PasswordHasher) -> str:
    """The hash of `new` once the policy accepts it for this user (WeakPassword if not)."""
    problem = await asyncio.to_thread(
        password_problem, new, user_inputs=[user.email, user.first_name, user.last_name]
    )
    if problem is not None:
        raise WeakPassword("newPassword", problem)
    return await hasher.hash(new)


async def change_password(
    me: Me,
    *,
    current: str,
    new: str,
    scope: OrgScope,
    uow_factory: UnitOfWorkFactory,
    hasher: PasswordHasher,
    sessions: SessionStore,
    attempts: Throttle,
    refusals: Refusals,
) -> None:
    """Wrong current passwords are counted per user like MFA codes: once the budget is
    spent, even the right one is refused (429) until the window ends. A wrong one is
    audited (`refusals`); the 429, as any signed-in refusal, by the shared handling."""
    subject = str(me.user_id)
    retry_after = await attempts.retry_after(subject)
    if retry_after is not None:
        raise PasswordAttemptsThrottled(retry_after)
    # Two transactions, read then write: none stays open while argon2 waits for the pool.
    async with uow_factory(scope) as uow:
        user = await IdentityRepository(uow).user(me.user_id)
    if user is None or not await hasher.verify(user.password_hash, current):
        await attempts.spend(subject)
        raise refusals.refused(InvalidCredentials(), user or Actor(me.user_id, None))
    await attempts.reset(subject)
    password_hash = await hash_new_password(new, user, hasher)
    async with uow_factory(scope) as uow:
        await IdentityRepository(uow).set_password(me.user_id, password_hash, datetime.now(UTC))
        await uow.outbox.add(user_event(user, PasswordChanged(email=user.email), me.ctx))
        await end_other_sessions(me, uow=uow, sessions=sessions, reason="password_changed")
        await uow.commit()
