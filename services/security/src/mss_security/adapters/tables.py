"""Every table of the security schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    LargeBinary,
    Numeric,
    SmallInteger,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlmodel import Field

from mss_db.tables import TIMESTAMPTZ, TableModel, inbox_table, outbox_table

SCHEMA = "security"


class AlertRow(TableModel, table=True):
    """An alert; severity and status are smallint codes (mss_security.domain.alerts)."""

    __tablename__ = "alerts"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    title: str = Field(max_length=255)
    description: str = Field(sa_type=Text)
    severity: int = Field(sa_type=SmallInteger)
    status: int = Field(sa_type=SmallInteger)
    category: str = Field(sa_type=Text)
    source: str = Field(max_length=100)
    source_ref: str | None = Field(default=None, max_length=255)
    fingerprint: str = Field(max_length=255)
    affected_assets: list[str] = Field(sa_type=JSONB)
    observables: list[dict[str, str]] = Field(sa_type=JSONB)
    metadata_: dict[str, Any] = Field(sa_column_kwargs={"name": "metadata"}, sa_type=JSONB)
    # Lower-cased title, description, assets and observable values: what `q` searches.
    search_text: str = Field(sa_type=Text)
    assigned_to: UUID | None = None
    occurrence_count: int
    first_seen_at: datetime = Field(sa_type=TIMESTAMPTZ)
    last_seen_at: datetime = Field(sa_type=TIMESTAMPTZ)
    acknowledged_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    acknowledged_by: UUID | None = None
    resolved_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    resolved_by: UUID | None = None
    resolution: str | None = Field(default=None, sa_type=Text)
    resolution_note: str | None = Field(default=None, sa_type=Text)
    previous_alert_id: UUID | None = None
    enrichment: dict[str, Any] = Field(sa_type=JSONB)
    intervention_id: UUID | None = None
    version: int
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class AlertCommentRow(TableModel, table=True):
    __tablename__ = "alert_comments"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    alert_id: UUID = Field(foreign_key="security.alerts.id")
    author_id: UUID
    body: str = Field(sa_type=Text)
    visibility: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


class UserDirectoryRow(TableModel, table=True):
    """A user of identity as far as assignment cares (user.* events, or fetched)."""

    __tablename__ = "user_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    user_id: UUID = Field(primary_key=True)
    org_id: UUID
    role: str | None = Field(default=None, sa_type=Text)
    status: str = Field(sa_type=Text)
    version: int
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class OrgDirectoryRow(TableModel, table=True):
    """An organization as ingest cares: its type, status and alert quota."""

    __tablename__ = "org_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    org_id: UUID = Field(primary_key=True)
    name: str = Field(default="", sa_type=Text)
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    alert_quota_per_minute: int
    version: int
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class _IndicatorColumns(TableModel):
    """What both indicator tables hold. `net` is set for `cidr` indicators only (the GiST
    index answers containment); every other type is matched on `value`."""

    id: UUID = Field(primary_key=True)
    type: str = Field(sa_type=Text)
    value: str = Field(sa_type=Text)
    net: str | None = Field(default=None, sa_type=INET)
    confidence: int = Field(sa_type=SmallInteger)
    tlp: str = Field(sa_type=Text)
    labels: list[str] = Field(sa_type=JSONB)
    source: str = Field(sa_type=Text)
    description: str = Field(sa_type=Text)
    valid_from: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    valid_until: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    stix_id: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class ReportRow(TableModel, table=True):
    """A report; findings and metrics as the API shows them (camelCase JSON)."""

    __tablename__ = "reports"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    title: str = Field(max_length=255)
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    generated_by: UUID
    scheduled: bool = Field(default=False, sa_type=Boolean)
    summary: str = Field(sa_type=Text)
    findings: list[dict[str, Any]] = Field(sa_type=JSONB)
    metrics: dict[str, Any] = Field(sa_type=JSONB)
    report_period_start: date = Field(sa_type=Date)
    report_period_end: date = Field(sa_type=Date)
    submitted_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    approved_by: UUID | None = None
    approved_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    published_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    rejection_reason: str | None = Field(default=None, sa_type=Text)
    content_sha256: str | None = Field(default=None, sa_type=Text)
    version: int
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class GlobalIndicatorRow(_IndicatorColumns, table=True):
    """A provider-wide indicator (organizationId null): no tenant's, so no RLS."""

    __tablename__ = "global_indicators"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}


class OrgIndicatorRow(_IndicatorColumns, table=True):
    """An indicator of one organization, under the tenant policy like its alerts."""

    __tablename__ = "org_indicators"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    org_id: UUID


class IntelImportRow(TableModel, table=True):
    """An import job: the body the API stored, parsed by the worker."""

    __tablename__ = "intel_imports"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID | None = None
    content_type: str = Field(sa_type=Text)
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    status: str = Field(sa_type=Text)
    total: int
    created: int
    updated: int
    rejected: int
    skipped: int
    skipped_reasons: dict[str, int] = Field(sa_type=JSONB)
    errors: list[dict[str, Any]] = Field(sa_type=JSONB)
    requested_by: UUID | None = None
    lease_until: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    started_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    finished_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class IntelHuntRow(TableModel, table=True):
    """A retro-hunt: indicators to match against recent unresolved alerts, resumable."""

    __tablename__ = "intel_hunts"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID | None = None
    indicator_ids: list[UUID] = Field(sa_type=ARRAY(Uuid))
    after: UUID | None = None
    lease_until: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    done_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class ReportDocumentRow(TableModel, table=True):
    """A published report's PDF, written once (the app role has no UPDATE on it)."""

    __tablename__ = "report_documents"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    report_id: UUID = Field(primary_key=True, foreign_key="security.reports.id")
    org_id: UUID
    content: bytes = Field(sa_type=LargeBinary)
    content_sha256: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


class InterventionViewRow(TableModel, table=True):
    """An intervention as reports and the dashboard count it (intervention.* events)."""

    __tablename__ = "interventions_view"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    title: str = Field(sa_type=Text)
    priority: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    type: str = Field(sa_type=Text)
    actual_hours: float = Field(sa_type=Numeric)
    completed_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    cancelled_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    response_due_at: datetime = Field(sa_type=TIMESTAMPTZ)
    resolution_due_at: datetime = Field(sa_type=TIMESTAMPTZ)
    responded_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    response_breached: bool = Field(default=False, sa_type=Boolean)
    resolution_breached: bool = Field(default=False, sa_type=Boolean)
    requested_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)
    version: int


class DashboardAlertCountRow(TableModel, table=True):
    """Alerts per organization, severity and status (kept by the alerts' triggers). Each
    key has a row per writer slot (the writing backend's pid & 15), so concurrent writers
    of one organization do not queue on one row: a count is the sum over the slots."""

    __tablename__ = "dashboard_alert_counts"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    org_id: UUID = Field(primary_key=True)
    severity: int = Field(primary_key=True, sa_type=SmallInteger)
    status: int = Field(primary_key=True, sa_type=SmallInteger)
    slot: int = Field(primary_key=True, sa_type=SmallInteger)
    alerts: int = Field(sa_type=BigInteger)


class DashboardAlertHourRow(TableModel, table=True):
    """Alerts first seen per organization and hour (kept by the alerts' triggers)."""

    __tablename__ = "dashboard_alert_hours"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    org_id: UUID = Field(primary_key=True)
    hour: datetime = Field(primary_key=True, sa_type=TIMESTAMPTZ)
    slot: int = Field(primary_key=True, sa_type=SmallInteger)
    alerts: int = Field(sa_type=BigInteger)


class DashboardAlertDayRow(TableModel, table=True):
    """Acknowledgements and resolutions per organization and UTC day, with their summed
    times since first seen: MTTA/MTTR over any run of days is two sums."""

    __tablename__ = "dashboard_alert_days"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    org_id: UUID = Field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    slot: int = Field(primary_key=True, sa_type=SmallInteger)
    acknowledged: int = Field(sa_type=BigInteger)
    ack_seconds: float = Field(sa_type=Numeric)
    resolved: int = Field(sa_type=BigInteger)
    resolve_seconds: float = Field(sa_type=Numeric)


class DashboardAllCountRow(TableModel, table=True):
    """Alerts per severity and status over every organization (no tenant), in 16 stripes:
    the writer slots of the per-organization rollups."""

    __tablename__ = "dashboard_all_counts"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    stripe: int = Field(primary_key=True, sa_type=SmallInteger)
    severity: int = Field(primary_key=True, sa_type=SmallInteger)
    status: int = Field(primary_key=True, sa_type=SmallInteger)
    alerts: int = Field(sa_type=BigInteger)


class DashboardAllHourRow(TableModel, table=True):
    __tablename__ = "dashboard_all_hours"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    stripe: int = Field(primary_key=True, sa_type=SmallInteger)
    hour: datetime = Field(primary_key=True, sa_type=TIMESTAMPTZ)
    alerts: int = Field(sa_type=BigInteger)


class DashboardAllDayRow(TableModel, table=True):
    __tablename__ = "dashboard_all_days"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    stripe: int = Field(primary_key=True, sa_type=SmallInteger)
    day: date = Field(primary_key=True, sa_type=Date)
    acknowledged: int = Field(sa_type=BigInteger)
    ack_seconds: float = Field(sa_type=Numeric)
    resolved: int = Field(sa_type=BigInteger)
    resolve_seconds: float = Field(sa_type=Numeric)


# The libraries' tables in this schema: the outbox the API relays, the consumer's inbox.
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
