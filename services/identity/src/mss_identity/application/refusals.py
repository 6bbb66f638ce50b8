"""Identity's refusals of a credential, audited (ASVS V16.3) as `access.denied` events.

A wrong password, a locked account, a wrong or throttled MFA code, a reused or expired
`mfaToken`, a refused API key or reset token: the caller is not signed in (or, at a
password or MFA change, is refused with 401, which the shared error handling does not
record), so identity records these itself, through the denial journal of its runtime
(`ServiceRuntime.record_denial`): per (actor, organization, action, status, code,
subject) and window, with the count, so a flood of wrong passwords is one or two entries.

Recording is an in-memory update: it never changes the answer, costs no round trip and
takes the same time on every path of a login. No event names the password, the code or
the token; an e-mail no account has is recorded as the SHA-256 of its normalised form
(`email_subject`): the journal keeps it apart from other unknown e-mails (one entry per
e-mail tried, so a spray over many shows as many), while the audit never stores what
someone typed that is not an account (often another site's address, or a password typed
in the wrong field).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from mss_contracts.api import ErrorCode
from mss_contracts.errors import ApiError
from mss_contracts.permissions import Role
from mss_identity.domain.users import User, normalize_email

E = TypeVar("E", bound=ApiError)


class DenialRecorder(Protocol):
    """`ServiceRuntime.record_denial` bound to the request being refused."""

    def __call__(
        self,
        *,
        actor_id: UUID | None,
        org_id: UUID | None,
        status: int,
        code: ErrorCode,
        reason: str,
        actor_role: Role | None = None,
        subject: str | None = None,
    ) -> None: ...


def email_subject(email: str) -> str:
    """What the audit names an unknown account by: a digest of the e-mail, never the e-mail."""
    digest = hashlib.sha256(normalize_email(email).encode()).hexdigest()
    return f"email-sha256:{digest}"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who was refused, when known without asking the database again."""

    user_id: UUID
    org_id: UUID | None
    role: Role | None = None


@dataclass(frozen=True, slots=True)
class Refusals:
    """Records the refusals of one request; `refused(error, ...)` returns the error to raise."""

    record: DenialRecorder

    def refused(
        self,
        error: E,
        who: User | Actor | None = None,
        *,
        email: str | None = None,
    ) -> E:
        """Audit `error` as a refusal of `who` (a user, or an actor known by id); nobody
        known: of the e-mail tried (its digest), or of no one at all (an unknown token)."""
        if isinstance(who, User):
            who = Actor(user_id=who.id, org_id=who.org_id, role=who.role)
        self.record(
            actor_id=who.user_id if who else None,
            org_id=who.org_id if who else None,
            status=error.status,
            code=error.code,
            reason=error.message,
            actor_role=who.role if who else None,
            subject=email_subject(email) if who is None and email is not None else None,
        )
        return error
