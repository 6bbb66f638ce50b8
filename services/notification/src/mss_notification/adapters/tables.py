"""Every table of the notification schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import ARRAY, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from mss_db.tables import TIMESTAMPTZ, TableModel, inbox_table, outbox_table

SCHEMA = "notification"


class MailDeliveryRow(TableModel, table=True):
    """One mail-worthy event's mail: to whom, which template, how it went. No token, no body."""

    __tablename__ = "mail_deliveries"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    event_id: UUID = Field(unique=True)
    org_id: UUID | None = None
    recipient: str = Field(sa_type=Text)
    template: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    attempts: int
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    sent_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class UserDirectoryRow(TableModel, table=True):
    """Identity's users as notifications need them (who holds which role, where to mail)."""

    __tablename__ = "user_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    user_id: UUID = Field(primary_key=True)
    org_id: UUID
    email: str = Field(sa_type=Text)
    first_name: str = Field(sa_type=Text)
    last_name: str = Field(sa_type=Text)
    role: str | None = Field(default=None, sa_type=Text)
    status: str = Field(sa_type=Text)
    version: int
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class OrgDirectoryRow(TableModel, table=True):
    """The organization service's organizations: type, status, settings (notification defaults)."""

    __tablename__ = "org_directory"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    org_id: UUID = Field(primary_key=True)
    type: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    settings: dict[str, Any] = Field(sa_type=JSONB)
    version: int
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class NotificationRow(TableModel, table=True):
    """One user's notice of one event. `org_id` is the recipient's organization (the inbox's
    tenant); `subject_org_id` the organization the event is about."""

    __tablename__ = "notifications"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    user_id: UUID
    event_id: UUID
    subject_org_id: UUID | None = None
    type: str = Field(sa_type=Text)
    title: str = Field(sa_type=Text)
    body: str = Field(sa_type=Text)
    resource_type: str | None = Field(default=None, sa_type=Text)
    resource_id: UUID | None = None
    severity: str | None = Field(default=None, sa_type=Text)
    read_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


class PreferencesRow(TableModel, table=True):
    """A user's own notification preferences (absent: the organization's defaults)."""

    __tablename__ = "preferences"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    user_id: UUID = Field(primary_key=True)
    org_id: UUID
    in_app: bool
    email: bool
    min_alert_severity: str = Field(sa_type=Text)
    quiet_hours: dict[str, Any] | None = Field(default=None, sa_type=JSONB(none_as_null=True))
    digest: str = Field(sa_type=Text)
    muted_types: list[str] = Field(sa_type=ARRAY(Text))
    updated_at: datetime = Field(sa_type=TIMESTAMPTZ)


class NotificationMailRow(TableModel, table=True):
    """One user's mail about one event: sent by the worker once `send_after` has come
    (quiet hours hold it back), or folded into that user's digest."""

    __tablename__ = "notification_mails"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    user_id: UUID
    event_id: UUID
    recipient: str = Field(sa_type=Text)
    subject: str = Field(sa_type=Text)
    body: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    digest: str = Field(sa_type=Text)
    send_after: datetime = Field(sa_type=TIMESTAMPTZ)
    attempts: int
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    sent_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class DigestRow(TableModel, table=True):
    """One digest mail per (user, period): the unique key makes it once across replicas."""

    __tablename__ = "digests"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    user_id: UUID
    period: str = Field(sa_type=Text)
    period_start: datetime = Field(sa_type=TIMESTAMPTZ)
    mails: int
    status: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


class WebhookRow(TableModel, table=True):
    """A customer's endpoint; the signing secret only sealed (never in clear, logs or events)."""

    __tablename__ = "webhooks"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    url: str = Field(sa_type=Text)
    events: list[str] = Field(sa_type=ARRAY(Text))
    description: str | None = Field(default=None, sa_type=Text)
    secret_sealed: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    consecutive_failures: int
    created_by: UUID
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    disabled_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    deleted_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class WebhookDeliveryRow(TableModel, table=True):
    """One event for one webhook: a durable row the worker sends, retries, and logs."""

    __tablename__ = "webhook_deliveries"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    webhook_id: UUID
    event_id: UUID
    event_type: str = Field(sa_type=Text)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    attempt: int
    status: str = Field(sa_type=Text)
    response_status: int | None = None
    response_excerpt: str | None = Field(default=None, sa_type=Text)
    last_error: str | None = Field(default=None, sa_type=Text)
    next_attempt_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)
    delivered_at: datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


# The libraries' tables in this schema: the consumer's inbox, and the outbox (the audit
# trail of webhook and preference changes).
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
