"""Changing one's own password: the policy holds, and every other session ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from mss_contracts.events import EventContext, PasswordChanged, new_event
from mss_db import OrgScope
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.auth import AuthDeps, InvalidCredentials, end_other_sessions
from mss_identity.domain.passwords import password_problem


class WeakPassword(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


async def change_password(
    *,
    user_id: UUID,
    session_id: UUID,
    current: str,
    new: str,
    deps: AuthDeps,
    scope: OrgScope,
    ctx: EventContext,
) -> None:
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(user_id)
        if user is None or not await deps.hasher.verify(user.password_hash, current):
            raise InvalidCredentials()
        problem = await asyncio.to_thread(
            password_problem, new, user_inputs=[user.email, user.first_name, user.last_name]
        )
        if problem is not None:
            raise WeakPassword("newPassword", problem)
        now = datetime.now(UTC)
        await repo.set_password(user_id, await deps.hasher.hash(new), now)
        await uow.outbox.add(
            new_event(
                PasswordChanged(email=user.email),
                aggregate_id=user.id,
                organization_id=user.org_id,
                version=user.version,
                context=ctx,
            )
        )
        await uow.commit()
    await end_other_sessions(user_id, session_id, deps, scope, ctx, "password_changed")
