"""Every table of the organization schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from mss_db.tables import TIMESTAMPTZ, TableModel, inbox_table, outbox_table

SCHEMA = "organization"


class OrganizationRow(TableModel, table=True):
    __tablename__ = "organizations"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    type: str = Field(sa_type=Text)
    domain: str | None = Field(default=None, max_length=255)
    sso_enabled: bool
    status: str = Field(sa_type=Text)
    settings: dict[str, Any] = Field(sa_type=JSONB)
    version: int
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)
    created_by: UUID | None = None


class TechnicianAccessRow(TableModel, table=True):
    """A technician access grant."""

    __tablename__ = "technician_access"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    technician_id: UUID
    access_level: str = Field(sa_type=Text)
    granted_by: UUID
    granted_at: datetime = Field(sa_type=TIMESTAMPTZ)
    expires_at: datetime = Field(sa_type=TIMESTAMPTZ)
    revoked_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    revoked_by: UUID | None = None
    revoked_reason: str | None = Field(default=None, max_length=255)
    allowed_services: list[str] = Field(sa_type=JSONB)
    ip_restrictions: list[str] = Field(sa_type=JSONB)
    # none_as_null: a grant without a time window stores SQL NULL, not the JSON value null.
    time_restrictions: dict[str, Any] | None = Field(default=None, sa_type=JSONB(none_as_null=True))
    status: str = Field(sa_type=Text)
    notes: str | None = Field(default=None, sa_type=Text)
    version: int


class RemoteAccessSessionRow(TableModel, table=True):
    __tablename__ = "remote_access_sessions"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    technician_id: UUID
    grant_id: UUID
    service: str = Field(max_length=50)
    justification: str = Field(sa_type=Text)
    intervention_id: UUID | None = None
    client_ip: str | None = Field(default=None, sa_type=Text)
    status: str = Field(sa_type=Text)
    started_at: datetime = Field(sa_type=TIMESTAMPTZ)
    ended_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    ended_by: UUID | None = None
    ended_reason: str | None = Field(default=None, max_length=255)
    version: int


class StaffDirectoryRow(TableModel, table=True):
    """A user of identity as far as grants care (projected from user.* events)."""

    __tablename__ = "staff_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    user_id: UUID = Field(primary_key=True)
    org_id: UUID
    role: str | None = Field(default=None, sa_type=Text)
    status: str = Field(sa_type=Text)
    version: int
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


# The libraries' tables in this schema: mss_db writes and relays the outbox, the consumer
# keeps the inbox.
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
