"""Every table of the security schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSONB
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
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    alert_quota_per_minute: int
    version: int
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


# The libraries' tables in this schema: the outbox the API relays, the consumer's inbox.
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
