"""Enrolling, changing and removing the second factor of the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from mss_contracts.events import (
    EventContext,
    EventData,
    MfaBackupCodesRegenerated,
    MfaDisabled,
    MfaEnabled,
    new_event,
)
from mss_db import OrgScope
from mss_identity.adapters.repository import IdentityRepository, MfaState
from mss_identity.application.auth import AuthDeps, InvalidMfaCode, end_other_sessions
from mss_identity.application.auth import verify_second_factor as _verify
from mss_identity.domain.mfa import matching_step, new_backup_codes, new_secret, provisioning_uri


class MfaAlreadyEnabled(Exception):
    pass


class MfaNotEnabled(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Enrollment:
    secret: str
    otpauth_uri: str


async def setup(user_id: UUID, deps: AuthDeps, scope: OrgScope) -> Enrollment:
    """A fresh secret, pending until a code from it is shown (`enable`)."""
    now = datetime.now(UTC)
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(user_id)
        state = await repo.mfa_state(user_id)
        if user is None or state is None:
            raise MfaNotEnabled("No such user")
        if state.enabled:
            raise MfaAlreadyEnabled("MFA is already enabled")
        secret = new_secret()
        await repo.save_mfa(user_id, replace(state, secret=secret, last_step=0), now)
        await uow.commit()
    return Enrollment(secret=secret, otpauth_uri=provisioning_uri(secret, user.email))


async def _event(
    deps: AuthDeps, scope: OrgScope, user_id: UUID, data: EventData, ctx: EventContext
) -> None:
    async with deps.uow(scope) as uow:
        user = await IdentityRepository(uow).user(user_id)
        assert user is not None
        await uow.outbox.add(
            new_event(
                data,
                aggregate_id=user.id,
                organization_id=user.org_id,
                version=user.version,
                context=ctx,
            )
        )
        await uow.commit()


async def enable(
    user_id: UUID, session_id: UUID, code: str, deps: AuthDeps, scope: OrgScope, ctx: EventContext
) -> list[str]:
    """Turn MFA on with a valid code; returns the ten backup codes (shown once)."""
    now = datetime.now(UTC)
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        state = await repo.mfa_state(user_id)
        if state is None or state.secret is None:
            raise MfaNotEnabled("Call /api/auth/mfa/setup first")
        if state.enabled:
            raise MfaAlreadyEnabled("MFA is already enabled")
        step = matching_step(state.secret, code.strip(), after_step=state.last_step)
        if step is None:
            raise InvalidMfaCode()
        codes = new_backup_codes()
        await repo.save_mfa(
            user_id,
            MfaState(secret=state.secret, enabled=True, backup_hashes=codes.hashes, last_step=step),
            now,
        )
        await uow.commit()
    await _event(deps, scope, user_id, MfaEnabled(), ctx)
    await end_other_sessions(user_id, session_id, deps, scope, ctx, "mfa_changed")
    return codes.plain


async def _require_code(user_id: UUID, code: str, deps: AuthDeps, scope: OrgScope) -> MfaState:
    async with deps.uow(scope) as uow:
        state = await IdentityRepository(uow).mfa_state(user_id)
        if state is None or not state.enabled:
            raise MfaNotEnabled("MFA is not enabled")
        if not await _verify(uow, user_id, code, datetime.now(UTC)):
            raise InvalidMfaCode()
        await uow.commit()
    return state


async def disable(
    user_id: UUID, session_id: UUID, code: str, deps: AuthDeps, scope: OrgScope, ctx: EventContext
) -> None:
    await _require_code(user_id, code, deps, scope)
    async with deps.uow(scope) as uow:
        await IdentityRepository(uow).save_mfa(
            user_id,
            MfaState(secret=None, enabled=False, backup_hashes=[], last_step=0),
            datetime.now(UTC),
        )
        await uow.commit()
    await _event(deps, scope, user_id, MfaDisabled(), ctx)
    await end_other_sessions(user_id, session_id, deps, scope, ctx, "mfa_changed")


async def regenerate_backup_codes(
    user_id: UUID, session_id: UUID, code: str, deps: AuthDeps, scope: OrgScope, ctx: EventContext
) -> list[str]:
    """A new set replaces the old; like any MFA change it ends the user's other sessions."""
    await _require_code(user_id, code, deps, scope)
    codes = new_backup_codes()
    async with deps.uow(scope) as uow:
        repo = IdentityRepository(uow)
        state = await repo.mfa_state(user_id)
        assert state is not None
        await repo.save_mfa(user_id, replace(state, backup_hashes=codes.hashes), datetime.now(UTC))
        await uow.commit()
    await _event(deps, scope, user_id, MfaBackupCodesRegenerated(count=len(codes.plain)), ctx)
    await end_other_sessions(user_id, session_id, deps, scope, ctx, "mfa_changed")
    return codes.plain
