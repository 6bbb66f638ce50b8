"""Bodies and answers of the threat-intelligence API (API.md "Threat intelligence")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from mss_contracts.api import ApiInput, ApiModel
from mss_security.api.schemas import FromOrgId
from mss_security.domain.indicators import (
    BATCH_MAX,
    LABEL_MAX,
    LABELS_MAX,
    VALUE_MAX,
    IndicatorType,
    Tlp,
)


class IndicatorIn(ApiInput):
    organization_id: UUID | None = None
    type: IndicatorType
    value: str = Field(min_length=1, max_length=VALUE_MAX)
    confidence: int = Field(default=50, ge=0, le=100)
    tlp: Tlp = Tlp.AMBER
    labels: list[str] = Field(default_factory=list, max_length=LABELS_MAX)
    source: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    stix_id: str | None = Field(default=None, max_length=100)


class IndicatorBatch(ApiInput):
    indicators: list[IndicatorIn] = Field(min_length=1, max_length=BATCH_MAX)


class UpsertRead(ApiModel):
    created: int
    updated: int


class IndicatorRead(ApiModel):
    id: UUID
    organization_id: UUID | None = FromOrgId
    type: IndicatorType
    value: str
    confidence: int
    tlp: Tlp
    labels: list[str]
    source: str
    description: str
    valid_from: datetime | None
    valid_until: datetime | None
    stix_id: str | None
    created_at: datetime
    updated_at: datetime


class CursorMeta(ApiModel):
    limit: int
    next_cursor: str | None


class IndicatorListEnvelope(ApiModel):
    success: Literal[True] = True
    data: list[IndicatorRead]
    meta: CursorMeta


class ImportQueued(ApiModel):
    id: UUID
    status: Literal["queued"] = "queued"


class ImportErrorRead(ApiModel):
    position: int | None
    message: str


class ImportRead(ApiModel):
    """API.md's job, plus `organizationId`, `skipped` and `skippedReasons` (reason → count)."""

    id: UUID
    organization_id: UUID | None = FromOrgId
    status: Literal["queued", "running", "completed", "failed"]
    total: int
    created: int
    updated: int
    rejected: int
    skipped: int
    skipped_reasons: dict[str, int]
    errors: list[ImportErrorRead]
    started_at: datetime | None
    finished_at: datetime | None


def label_problems(labels: list[str]) -> str | None:
    if any(not label or len(label) > LABEL_MAX for label in labels):
        return f"each label must be 1 to {LABEL_MAX} characters"
    return None
