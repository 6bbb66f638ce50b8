"""Bodies and answers of the alert API (API.md "Alerts"), camelCase on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AliasChoices, Field, field_validator, model_validator

from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.interventions import InterventionType, Priority
from mss_security.domain.alerts import (
    ASSETS_MAX,
    BATCH_MAX,
    BULK_MAX,
    COMMENT_MAX,
    DESCRIPTION_MAX,
    FINGERPRINT_MAX,
    METADATA_MAX_BYTES,
    OBSERVABLES_MAX,
    SOURCE_MAX,
    SOURCE_REF_MAX,
    TITLE_MAX,
    AlertStatus,
    Category,
    CommentVisibility,
    ObservableType,
    Resolution,
    Severity,
)

FromOrgId = Field(validation_alias=AliasChoices("organizationId", "org_id"))
# A sensor's clock may run a little ahead; an alert from the future beyond that is refused.
CLOCK_SKEW = timedelta(minutes=5)


def _metadata_within_limit(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"))) > METADATA_MAX_BYTES:
        raise ValueError(f"must be at most {METADATA_MAX_BYTES} bytes serialized")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_metadata_within_limit)]


class ObservableIn(ApiInput):
    type: ObservableType
    value: str = Field(min_length=1, max_length=2048)


class AlertCreate(ApiInput):
    organization_id: UUID | None = None
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(max_length=DESCRIPTION_MAX)
    severity: Severity
    category: Category
    source: str = Field(min_length=1, max_length=SOURCE_MAX)
    source_ref: str | None = Field(default=None, min_length=1, max_length=SOURCE_REF_MAX)
    fingerprint: str | None = Field(default=None, min_length=1, max_length=FINGERPRINT_MAX)
    occurred_at: datetime | None = None
    affected_assets: list[str] = Field(default_factory=list, max_length=ASSETS_MAX)
    observables: list[ObservableIn] = Field(default_factory=list, max_length=OBSERVABLES_MAX)
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("affected_assets", mode="after")
    @classmethod
    def _assets(cls, value: list[str]) -> list[str]:
        if any(not asset or len(asset) > 255 for asset in value):
            raise ValueError("each asset must be 1 to 255 characters")
        return value

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if aware > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("must not be in the future")
        return aware


class AlertBatch(ApiInput):
    alerts: list[AlertCreate] = Field(min_length=1, max_length=BATCH_MAX)


class AlertUpdate(ApiInput):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    severity: Severity | None = None
    category: Category | None = None
    metadata: Metadata | None = None


class AssignBody(ApiInput):
    user_id: UUID | None


class ResolveBody(ApiInput):
    resolution: Resolution
    note: str | None = Field(default=None, max_length=5000)


class ReopenBody(ApiInput):
    reason: str = Field(min_length=1, max_length=1000)


class EscalateBody(ApiInput):
    priority: Priority
    type: InterventionType = InterventionType.INCIDENT_RESPONSE
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)


class CommentCreate(ApiInput):
    body: str = Field(min_length=1, max_length=COMMENT_MAX)
    visibility: CommentVisibility


class BulkBody(ApiInput):
    ids: list[UUID] = Field(min_length=1, max_length=BULK_MAX)
    action: Literal["acknowledge", "assign", "resolve"]
    user_id: UUID | None = None
    resolution: Resolution | None = None
    note: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _resolution_to_resolve(self) -> BulkBody:
        if self.action == "resolve" and self.resolution is None:
            raise ValueError("resolve needs a resolution")
        return self


# --- answers ------------------------------------------------------------------------------


class ObservableRead(ApiModel):
    type: ObservableType
    value: str


class AlertRead(ApiModel):
    id: UUID
    organization_id: UUID = FromOrgId
    title: str
    description: str
    severity: Severity
    status: AlertStatus
    category: Category
    source: str
    source_ref: str | None
    fingerprint: str
    affected_assets: list[str]
    observables: list[ObservableRead]
    metadata: dict[str, Any]
    assigned_to: UUID | None
    occurrence_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: UUID | None
    resolved_at: datetime | None
    resolved_by: UUID | None
    resolution: Resolution | None
    resolution_note: str | None
    previous_alert_id: UUID | None
    enrichment: dict[str, Any]
    intervention_id: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class AlertListMeta(ApiModel):
    limit: int
    next_cursor: str | None
    total: int
    total_exact: bool


class AlertListEnvelope(ApiModel):
    success: Literal[True] = True
    data: list[AlertRead]
    meta: AlertListMeta


class BatchItemRead(ApiModel):
    index: int
    id: UUID
    result: Literal["created", "deduplicated"]


class BatchRead(ApiModel):
    created: int
    deduplicated: int
    items: list[BatchItemRead]


class EscalationRead(ApiModel):
    alert: AlertRead
    intervention_id: UUID


class SkippedRead(ApiModel):
    id: UUID
    reason: str


class BulkRead(ApiModel):
    updated: list[UUID]
    skipped: list[SkippedRead]


class CommentRead(ApiModel):
    id: UUID
    alert_id: UUID
    author_id: UUID
    body: str
    visibility: CommentVisibility
    created_at: datetime
