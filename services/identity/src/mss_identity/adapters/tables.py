"""Every table of the identity schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import ARRAY, BigInteger, Text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlmodel import Field

from mss_db.tables import TIMESTAMPTZ, TableModel, inbox_table, outbox_table
from mss_grants import grant_projection_table

SCHEMA = "identity"


class OrgDirectoryRow(TableModel, table=True):
    """An organization as identity needs it (projected from organization.* events)."""

    __tablename__ = "org_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    name: str = Field(max_length=255)
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    settings: dict[str, Any] = Field(sa_type=JSONB)
    version: int


class UserRow(TableModel, table=True):
    __tablename__ = "users"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    email: str = Field(max_length=255)
    password_hash: str | None = Field(default=None, max_length=255)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    role: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    mfa_enabled: bool
    mfa_secret: str | None = Field(default=None, max_length=255)
    mfa_backup_codes: list[str] | None = Field(default=None, sa_type=ARRAY(Text))
    mfa_last_step: int = Field(sa_type=BigInteger)
    email_verified: bool
    last_login_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    last_login_ip: str | None = Field(default=None, sa_type=INET)
    failed_login_attempts: int
    locked_until: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    version: int
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)
    created_by: UUID | None = None


class UserSessionRow(TableModel, table=True):
    __tablename__ = "user_sessions"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    user_id: UUID
    org_id: UUID
    refresh_token_hash: str = Field(max_length=255)
    device_fingerprint: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, sa_type=INET)
    user_agent: str | None = Field(default=None, sa_type=Text)
    status: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=TIMESTAMPTZ)
    last_used_at: datetime = Field(sa_type=TIMESTAMPTZ)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    revoked_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    revoked_reason: str | None = Field(default=None, max_length=255)


class RefreshTokenRow(TableModel, table=True):
    """Every refresh token issued (its hash), so a rotated one is recognised when replayed."""

    __tablename__ = "refresh_tokens"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: UUID
    org_id: UUID
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    rotated_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class UserTokenRow(TableModel, table=True):
    """A single-use token (invitation, password reset, email verification), hashed."""

    __tablename__ = "user_tokens"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: UUID
    org_id: UUID
    purpose: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=TIMESTAMPTZ)
    used_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


class ApiKeyRow(TableModel, table=True):
    __tablename__ = "api_keys"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    name: str | None = Field(default=None, max_length=100)
    key_prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    permissions: list[str] = Field(sa_type=ARRAY(Text))
    created_by: UUID | None = None
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    last_used_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    revoked_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


# The libraries' tables in this schema: the outbox, the consumer's inbox, and the grants
# projection that scopes technicians.
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
technician_grants = grant_projection_table(SCHEMA)
