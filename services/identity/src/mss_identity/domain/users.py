"""Users and sessions as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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

    @property
    def active(self) -> bool:
        return self.status == "active"


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
