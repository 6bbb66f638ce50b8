"""Enrolling, changing and removing the second factor of the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from mss_auth.sessions import SessionStore
from mss_contracts.events import (
    EventData,
    MfaBackupCodesRegenerated,
    MfaDisabled,
    MfaEnabled,
)
from mss_db import UnitOfWork
from mss_identity.adapters.repository import IdentityRepository, MfaState
from mss_identity.application.auth import Me, end_other_sessions
from mss_identity.application.auth import verify_second_factor as _verify
from mss_identity.application.events import user_event
from mss_identity.application.refusals import Refusals
from mss_identity.domain.errors import InvalidMfaCode, MfaAlreadyEnabled, MfaNotEnabled
from mss_identity.domain.mfa import matching_step, new_backup_codes, new_secret, provisioning_uri


@dataclass(frozen=True, slots=True)
class Enrollment:
    secret: str
    otpauth_uri: str


async def setup(user_id: UUID, *, uow: UnitOfWork) -> Enrollment:
    """A fresh secret, pending until a code from it is shown (`enable`)."""
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    user = await repo.user(user_id)
    state = await repo.mfa_state(user_id)
    if user is None or state is None:
        raise MfaNotEnabled("No such user")
    if state.enabled:
        raise MfaAlreadyEnabled()
    secret = new_secret()
    await repo.save_mfa(user_id, replace(state, secret=secret, last_step=0), now)
    await uow.commit()
    return Enrollment(secret=secret, otpauth_uri=provisioning_uri(secret, user.email))


async def enable(
    me: Me, code: str, *, uow: UnitOfWork, sessions: SessionStore, refusals: Refusals
) -> list[str]:
    """Turn MFA on with a valid code and end the user's other sessions; returns the ten
    backup codes (shown once). A wrong code is audited (`refusals`)."""
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    state, user = await repo.mfa_state(me.user_id), await repo.user(me.user_id)
    if state is None or state.secret is None or user is None:
        raise MfaNotEnabled("Call /api/auth/mfa/setup first")
    if state.enabled:
        raise MfaAlreadyEnabled()
    step = matching_step(state.secret, code.strip(), after_step=state.last_step)
    if step is None:
        raise refusals.refused(InvalidMfaCode(), user)
    codes = new_backup_codes()
    await repo.save_mfa(
        me.user_id,
        MfaState(secret=state.secret, enabled=True, backup_hashes=codes.hashes, last_step=step),
        now,
    )
    await uow.outbox.add(user_event(user, MfaEnabled(), me.ctx))
    await end_other_sessions(me, uow=uow, sessions=sessions, reason="mfa_changed")
    await uow.commit()
    return codes.plain


async def _change_with_code(
    me: Me,
    code: str,
    change: Callable[[MfaState], MfaState],
    event: EventData,
    *,
    uow: UnitOfWork,
    sessions: SessionStore,
    refusals: Refusals,
) -> None:
    """Check the code (using it up), change the MFA state, record `event` and end the
    user's other sessions, as after any MFA change; a wrong code is audited."""
    now = datetime.now(UTC)
    repo = IdentityRepository(uow)
    state, user = await repo.mfa_state(me.user_id), await repo.user(me.user_id)
    if state is None or not state.enabled or user is None:
        raise MfaNotEnabled()
    if not await _verify(uow, me.user_id, code, now):
        raise refusals.refused(InvalidMfaCode(), user)
    used = await repo.mfa_state(me.user_id)  # the code just used is spent
    assert used is not None
    await repo.save_mfa(me.user_id, change(used), now)
    await uow.outbox.add(user_event(user, event, me.ctx))
    await end_other_sessions(me, uow=uow, sessions=sessions, reason="mfa_changed")
    await uow.commit()


async def disable(
    me: Me, code: str, *, uow: UnitOfWork, sessions: SessionStore, refusals: Refusals
) -> None:
    off = MfaState(secret=None, enabled=False, backup_hashes=[], last_step=0)
    await _change_with_code(
        me, code, lambda _: off, MfaDisabled(), uow=uow, sessions=sessions, refusals=refusals
    )


async def regenerate_backup_codes(
    me: Me, code: str, *, uow: UnitOfWork, sessions: SessionStore, refusals: Refusals
) -> list[str]:
    """A new set replaces the old one."""
    codes = new_backup_codes()
    await _change_with_code(
        me,
        code,
        lambda state: replace(state, backup_hashes=codes.hashes),
        MfaBackupCodesRegenerated(count=len(codes.plain)),
        uow=uow,
        sessions=sessions,
        refusals=refusals,
    )
    return codes.plain
