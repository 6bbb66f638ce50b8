from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.permissions import OrganizationType
from mss_organization.domain.organization import Organization, OrganizationStatus
from mss_organization.domain.settings import OrganizationSettingsModel

Name = Field(min_length=1, max_length=255)
Domain = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class OrganizationCreate(ApiInput):
    name: str = Name
    # Only customer organizations are created through the API; the provider is bootstrapped.
    type: Literal[OrganizationType.CUSTOMER] = OrganizationType.CUSTOMER
    domain: str | None = Domain
    sso_enabled: bool = False
    settings: OrganizationSettingsModel = Field(default_factory=OrganizationSettingsModel)


class OrganizationUpdate(ApiInput):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    domain: str | None = Domain
    sso_enabled: bool | None = None


class SuspendBody(ApiInput):
    reason: str | None = Field(default=None, max_length=500)


class OrganizationRead(ApiModel):
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

    @classmethod
    def of(cls, org: Organization) -> OrganizationRead:
        return cls(
            id=org.id,
            name=org.name,
            type=org.type,
            domain=org.domain,
            sso_enabled=org.sso_enabled,
            status=org.status,
            settings=org.settings,
            version=org.version,
            created_at=org.created_at,
            updated_at=org.updated_at,
            created_by=org.created_by,
        )
