from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import AliasChoices, Field

from mss_contracts.api import ApiInput, ApiModel
from mss_security.domain.items import NAME_MAX

# The domain's `org_id`, read as the API's `organizationId`.
FromOrgId = Field(validation_alias=AliasChoices("organizationId", "org_id"))


class ItemCreate(ApiInput):
    # Which organization the item belongs to; the caller's own when omitted.
    organization_id: UUID | None = None
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"\S")


class ItemRead(ApiModel):
    id: UUID
    organization_id: UUID = FromOrgId
    name: str
    created_by: UUID | None
    created_at: datetime
