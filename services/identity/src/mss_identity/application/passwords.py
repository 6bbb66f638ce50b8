"""Changing one's own password: the policy holds, and every other session ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from mss_contracts.events import PasswordChanged
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.auth import AuthDeps, InvalidCredentials, Me, end_other_sessions
from mss_identity.application.events import user_event
from mss_identity.domain.passwords import password_problem


class WeakPassword(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


async def change_password(me: Me, *, current: str, new: str, deps: AuthDeps) -> None:
    async with deps.uow(me.scope) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(me.user_id)
        if user is None or not await deps.hasher.verify(user.password_hash, current):
            raise InvalidCredentials()
        problem = await asyncio.to_thread(
            password_problem, new, user_inputs=[user.email, user.first_name, user.last_name]
        )
        if problem is not None:
            raise WeakPassword("newPassword", problem)
        now = datetime.now(UTC)
        await repo.set_password(me.user_id, await deps.hasher.hash(new), now)
        await uow.outbox.add(user_event(user, PasswordChanged(email=user.email), me.ctx))
        await uow.commit()
    await end_other_sessions(me, deps, "password_changed")
