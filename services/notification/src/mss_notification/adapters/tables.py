"""Every table of the notification schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from sqlalchemy import Text
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


# The libraries' tables in this schema: the consumer's inbox, and the outbox every schema
# has (the notification service publishes nothing yet).
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
