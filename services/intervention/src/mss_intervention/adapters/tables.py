"""Every table of the intervention schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from mss_db.tables import TIMESTAMPTZ, TableModel, inbox_table, outbox_table
from mss_grants import grant_projection_table

SCHEMA = "intervention"


class InterventionRow(TableModel, table=True):
    """One customer organization's intervention (RLS on org_id), its SLA clocks included."""

    __tablename__ = "interventions"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    title: str = Field(max_length=255)
    description: str = Field(sa_type=Text)
    priority: str = Field(sa_type=Text)
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    requested_by: UUID | None = None
    assigned_to: UUID | None = None
    estimated_hours: float | None = None
    scheduled_for: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    completed_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    cancelled_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    cancel_reason: str | None = Field(default=None, sa_type=Text)
    summary: str | None = Field(default=None, sa_type=Text)
    source_alert_id: UUID | None = None
    response_due_at: datetime = Field(sa_type=TIMESTAMPTZ)
    resolution_due_at: datetime = Field(sa_type=TIMESTAMPTZ)
    responded_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    response_breached_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    resolution_breached_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    version: int
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class WorkLogRow(TableModel, table=True):
    """One work-log entry, in whole quarter hours (the sum is exact)."""

    __tablename__ = "work_log"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    intervention_id: UUID = Field(foreign_key="intervention.interventions.id")
    user_id: UUID
    at: datetime = Field(sa_type=TIMESTAMPTZ)
    quarters: int = Field(sa_type=SmallInteger)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


class RemoteSessionRow(TableModel, table=True):
    """A remote-access session naming an intervention (from remote_access.session.*)."""

    __tablename__ = "remote_sessions"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    intervention_id: UUID
    technician_id: UUID
    service: str = Field(max_length=50)
    status: str = Field(sa_type=Text)
    started_at: datetime = Field(sa_type=TIMESTAMPTZ)
    ended_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    version: int


class OrgDirectoryRow(TableModel, table=True):
    """An organization as interventions need it: type, status, SLA settings."""

    __tablename__ = "org_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    settings: dict[str, Any] = Field(sa_type=JSONB)
    version: int


# The libraries' tables in this schema: the outbox, the consumer's inbox, and the grants
# projection that scopes technicians and admits assignments.
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
technician_grants = grant_projection_table(SCHEMA)
