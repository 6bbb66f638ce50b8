"""An organization and the rules of its life cycle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from mss_contracts.permissions import OrganizationType
from mss_organization.domain.errors import InvalidTransition, ProviderOrganizationProtected


class OrganizationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    name: str
    type: OrganizationType
    domain: str | None
    sso_enabled: bool
    status: OrganizationStatus
    settings: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None
    changed: tuple[str, ...] = field(default=())

    @property
    def org_id(self) -> UUID:
        """An organization is its own tenant."""
        return self.id

    def update(self, changes: dict[str, Any], now: datetime) -> Organization:
        """Apply the given fields; `changed` names the ones that really differ."""
        changed = tuple(sorted(k for k, v in changes.items() if getattr(self, k) != v))
        if not changed:
            return replace(self, changed=())
        return replace(self, **changes, version=self.version + 1, updated_at=now, changed=changed)

    def suspend(self, now: datetime) -> Organization:
        if self.type is OrganizationType.MSS_PROVIDER:
            raise ProviderOrganizationProtected("The provider organization cannot be suspended")
        if self.status is not OrganizationStatus.ACTIVE:
            raise InvalidTransition(f"Cannot suspend an organization that is {self.status}")
        return replace(
            self,
            status=OrganizationStatus.SUSPENDED,
            version=self.version + 1,
            updated_at=now,
            changed=("status",),
        )

    def reactivate(self, now: datetime) -> Organization:
        if self.status is not OrganizationStatus.SUSPENDED:
            raise InvalidTransition(f"Cannot reactivate an organization that is {self.status}")
        return replace(
            self,
            status=OrganizationStatus.ACTIVE,
            version=self.version + 1,
            updated_at=now,
            changed=("status",),
        )
