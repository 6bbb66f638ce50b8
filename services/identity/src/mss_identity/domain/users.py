"""Users and sessions as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from mss_contracts.permissions import OrganizationType, Role


class UserStatus(StrEnum):
    ACTIVE = "active"
    INVITED = "invited"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class OrgRef:
    id: UUID
    name: str
    type: OrganizationType
    status: str
    mfa_required: bool = False
    # The organization's own, shorter session limits (settings), when it has set them.
    session_idle: timedelta | None = None
    session_absolute: timedelta | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def idle_limit(self, platform: timedelta) -> timedelta:
        """Organizations may shorten the platform's limits, never lengthen them."""
        return min(platform, self.session_idle or platform)

    def absolute_limit(self, platform: timedelta) -> timedelta:
        return min(platform, self.session_absolute or platform)


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    org_id: UUID
    email: str
    password_hash: str | None
    first_name: str
    last_name: str
    role: Role
    status: UserStatus
    mfa_enabled: bool
    email_verified: bool
    last_login_at: datetime | None
    last_login_ip: str | None
    failed_login_attempts: int
    locked_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    def can_log_in(self) -> bool:
        return self.status is UserStatus.ACTIVE and self.password_hash is not None


def normalize_email(email: str) -> str:
    return email.strip().lower()


# Lockout (ARCHITECTURE "Identity and tokens"): after 5 consecutive failures the account
# locks for 1 minute, doubling with each further failure, up to 15 minutes.
LOCK_THRESHOLD = 5
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(minutes=15)


def lock_duration(failed_attempts: int) -> timedelta | None:
    """How long the account locks after this many consecutive failures (None: not yet)."""
    if failed_attempts < LOCK_THRESHOLD:
        return None
    doublings = min(failed_attempts - LOCK_THRESHOLD, 10)
    duration: timedelta = min(FIRST_LOCK * (2**doublings), LONGEST_LOCK)
    return duration


def locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


@dataclass(frozen=True, slots=True)
class Session:
    id: UUID
    user_id: UUID
    org_id: UUID
    status: str
    ip_address: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime

    def usable(self, now: datetime, idle: timedelta) -> bool:
        """Active, within its absolute lifetime, and used within the idle timeout."""
        return self.status == "active" and now < self.expires_at and now - self.last_used_at < idle
