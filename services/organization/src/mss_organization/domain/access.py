"""Technician access grants, the remote access sessions they admit, and their rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from mss_contracts.access import AccessLevel, GrantStatus, GrantTerms, TimeRestrictions
from mss_contracts.permissions import OrganizationType, Role
from mss_organization.domain.errors import (
    GrantNotActive,
    InvalidGrant,
    RemoteAccessRefused,
    RemoteSessionNotActive,
)

NO_ACTIVE_GRANT = "no active technician access grant for this organization"
# The longest a grant may run (docs/api.md): access is renewed deliberately, never open-ended.
GRANT_MAX_LIFETIME = timedelta(days=90)


class SessionStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A user as the staff directory knows it (kept from identity's user.* events)."""

    user_id: UUID
    org_id: UUID
    role: Role | None
    status: str
    version: int

    @property
    def is_active_technician(self) -> bool:
        return active_technician(self.role, self.status)


def active_technician(role: Role | None, status: str) -> bool:
    """Who may hold technician access grants."""
    return role is Role.TECHNICIAN and status == "active"


@dataclass(frozen=True, slots=True)
class TechnicianAccess:
    """A time-bound grant opening one customer organization to one technician."""

    id: UUID
    org_id: UUID
    technician_id: UUID
    access_level: AccessLevel
    granted_by: UUID
    granted_at: datetime
    expires_at: datetime
    allowed_services: tuple[str, ...]
    ip_restrictions: tuple[str, ...]
    time_restrictions: TimeRestrictions | None
    status: GrantStatus
    notes: str | None
    version: int
    revoked_at: datetime | None = None
    revoked_by: UUID | None = None
    revoked_reason: str | None = None

    @property
    def terms(self) -> GrantTerms:
        return GrantTerms(
            expires_at=self.expires_at,
            allowed_services=list(self.allowed_services),
            ip_restrictions=list(self.ip_restrictions),
            time_restrictions=self.time_restrictions,
        )

    def effective_status(self, now: datetime) -> GrantStatus:
        return effective_status(self.status, expires_at=self.expires_at, now=now)

    def revoke(self, *, by: UUID, reason: str, now: datetime) -> TechnicianAccess:
        status = self.effective_status(now)
        if status is not GrantStatus.ACTIVE:
            raise GrantNotActive(f"Cannot revoke a grant that is {status}")
        return replace(
            self,
            status=GrantStatus.REVOKED,
            revoked_at=now,
            revoked_by=by,
            revoked_reason=reason,
            version=self.version + 1,
        )

    def expire(self, now: datetime) -> TechnicianAccess:
        if self.status is not GrantStatus.ACTIVE or now < self.expires_at:
            raise GrantNotActive(f"Cannot expire a grant that is {self.effective_status(now)}")
        return replace(self, status=GrantStatus.EXPIRED, version=self.version + 1)


def effective_status(status: GrantStatus, *, expires_at: datetime, now: datetime) -> GrantStatus:
    """An active grant past its expiry is expired, whether or not the sweep ran yet."""
    if status is GrantStatus.ACTIVE and now >= expires_at:
        return GrantStatus.EXPIRED
    return status


def check_new_grant(
    *,
    org_type: OrganizationType,
    technician: StaffMember | None,
    expires_at: datetime,
    now: datetime,
) -> None:
    """A grant opens a customer organization, to an active technician, until a future time
    at most GRANT_MAX_LIFETIME away."""
    problems = {}
    if org_type is not OrganizationType.CUSTOMER:
        problems["organizationId"] = "must be a customer organization"
    if technician is None or not technician.is_active_technician:
        problems["technicianId"] = "must be an active technician of the provider organization"
    if expires_at <= now:
        problems["expiresAt"] = "must be in the future"
    elif expires_at > now + GRANT_MAX_LIFETIME:
        problems["expiresAt"] = f"must be at most {GRANT_MAX_LIFETIME.days} days from now"
    if problems:
        raise InvalidGrant(problems)


def admitting_grant(
    grants: Sequence[TechnicianAccess], *, now: datetime, ip: str | None, service: str
) -> TechnicianAccess:
    """The first active grant whose terms admit `service` from `ip` at `now`."""
    active = [grant for grant in grants if grant.status is GrantStatus.ACTIVE]
    if not active:
        raise RemoteAccessRefused(NO_ACTIVE_GRANT)
    reasons = []
    for grant in active:
        reason = grant.terms.refusal(now=now, ip=ip, service=service)
        if reason is None:
            return grant
        reasons.append(reason)
    unique = list(dict.fromkeys(reasons))
    raise RemoteAccessRefused("Remote access refused: " + "; ".join(unique), unique)


@dataclass(frozen=True, slots=True)
class RemoteAccessSession:
    """A technician's remote session on a customer's systems, inside one grant."""

    id: UUID
    org_id: UUID
    technician_id: UUID
    grant_id: UUID
    service: str
    justification: str
    intervention_id: UUID | None
    client_ip: str | None
    status: SessionStatus
    started_at: datetime
    version: int
    ended_at: datetime | None = None
    ended_by: UUID | None = None
    ended_reason: str | None = None

    def end(self, *, by: UUID | None, reason: str | None, now: datetime) -> RemoteAccessSession:
        if self.status is not SessionStatus.ACTIVE:
            raise RemoteSessionNotActive(
                f"Cannot end a remote access session that is {self.status}"
            )
        return replace(
            self,
            status=SessionStatus.ENDED,
            ended_at=now,
            ended_by=by,
            ended_reason=reason,
            version=self.version + 1,
        )
