"""Who may be assigned alerts, and how much an organization may ingest."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from mss_contracts.permissions import PROVIDER_ROLES, Role, has_permission, permissions_for

ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    user_id: UUID
    org_id: UUID
    role: Role | None
    status: str
    version: int

    @property
    def may_work_alerts(self) -> bool:
        """API.md: an assignee is a provider user holding `alerts:update`, and active."""
        return (
            self.status == ACTIVE
            and self.role in PROVIDER_ROLES
            and has_permission(permissions_for(self.role), "alerts:update")
        )


@dataclass(frozen=True, slots=True)
class DirectoryOrganization:
    org_id: UUID
    type: str
    status: str
    alert_quota_per_minute: int
    version: int

    @property
    def accepts_alerts(self) -> bool:
        """Alerts belong to active customer organizations."""
        return self.type == "customer" and self.status == ACTIVE
