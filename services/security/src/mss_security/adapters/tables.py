"""Every table of the security schema (created by migrations/, never from here)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from sqlalchemy import Text
from sqlmodel import Field

from mss_db.tables import TIMESTAMPTZ, TableModel, inbox_table, outbox_table

SCHEMA = "security"


class ItemRow(TableModel, table=True):
    """The example tenant table: one organization's item (RLS on org_id)."""

    __tablename__ = "items"
    __table_args__: ClassVar[dict[str, str]] = {"schema": SCHEMA}

    id: UUID = Field(primary_key=True)
    org_id: UUID
    name: str = Field(sa_type=Text)
    created_by: UUID | None = None
    created_at: datetime = Field(sa_type=TIMESTAMPTZ)


# The libraries' tables in this schema: the outbox the API relays, the consumer's inbox.
outbox = outbox_table(SCHEMA)
inbox = inbox_table(SCHEMA)
