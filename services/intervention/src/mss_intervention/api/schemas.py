from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator

from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.interventions import InterventionType, Priority
from mss_intervention.domain.intervention import Intervention
from mss_intervention.domain.workflow import Status

# The domain's `org_id`, read as the API's `organizationId`.
FromOrgId = Field(validation_alias=AliasChoices("organizationId", "org_id"))
Title = Field(min_length=1, max_length=255, pattern=r"\S")
Text = Field(min_length=1, max_length=10_000, pattern=r"\S")
Reason = Field(min_length=1, max_length=2_000, pattern=r"\S")


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class InterventionCreate(ApiInput):
    # Customers request for their own organization; provider staff name one in scope.
    organization_id: UUID | None = None
    title: str = Title
    description: str = Text
    priority: Priority
    type: InterventionType


class InterventionUpdate(ApiInput):
    title: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"\S")
    description: str | None = Field(default=None, min_length=1, max_length=10_000, pattern=r"\S")

    @model_validator(mode="after")
    def _something(self) -> InterventionUpdate:
        if self.title is None and self.description is None:
            raise ValueError("name at least one of title, description")
        return self


class AssignBody(ApiInput):
    technician_id: UUID


class ScheduleBody(ApiInput):
    scheduled_for: datetime
    estimated_hours: float | None = None

    _naive_is_utc = field_validator("scheduled_for", mode="after")(_utc)


class WorkLogBody(ApiInput):
    hours: float
    note: str | None = Field(default=None, max_length=2_000)
    at: datetime | None = None

    _naive_is_utc = field_validator("at", mode="after")(_utc)


class CompleteBody(ApiInput):
    summary: str = Text


class CancelBody(ApiInput):
    reason: str = Reason


class WorkEntryRead(ApiModel):
    id: UUID
    at: datetime
    user_id: UUID
    hours: float
    note: str | None


class RemoteSessionRead(ApiModel):
    id: UUID
    technician_id: UUID
    service: str
    status: str
    started_at: datetime
    ended_at: datetime | None


class SlaRead(ApiModel):
    response_due_at: datetime
    resolution_due_at: datetime
    responded_at: datetime | None
    response_breached: bool
    resolution_breached: bool


class InterventionRead(ApiModel):
    """Read from an `Intervention`; the breach flags as of the context's `now`."""

    id: UUID
    organization_id: UUID = FromOrgId
    title: str
    description: str
    priority: Priority
    status: Status
    type: InterventionType
    requested_by: UUID | None
    assigned_to: UUID | None
    estimated_hours: float | None
    actual_hours: float
    scheduled_for: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    summary: str | None
    source_alert_id: UUID | None
    work_log: list[WorkEntryRead]
    remote_sessions: list[RemoteSessionRead]
    sla: SlaRead
    version: int
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_intervention(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Intervention):
            return data
        now = (info.context or {}).get("now") or datetime.now(UTC)
        fields = {name: getattr(data, name) for name in Intervention.__slots__}
        return {
            **fields,
            "actual_hours": data.actual_hours,
            "work_log": list(data.work_log),
            "remote_sessions": list(data.remote_sessions),
            "sla": SlaRead(
                response_due_at=data.response_due_at,
                resolution_due_at=data.resolution_due_at,
                responded_at=data.responded_at,
                response_breached=data.response_breached(now),
                resolution_breached=data.resolution_breached(now),
            ),
        }


class OrganizationBillingRead(ApiModel):
    organization_id: UUID
    interventions: int
    hours: float
    by_type: dict[str, float]
    by_technician: dict[UUID, float]
