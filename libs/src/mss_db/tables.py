"""Tables as Python sees them: the base of every table model, and the libraries' own tables.

Each service declares its schema's tables in `adapters/tables.py` as SQLModel table models
(`class OrganizationRow(TableModel, table=True)`), plus the tables the libraries keep in
that schema (`outbox_table(SCHEMA)`, ...), so that module names every table its migrations
create; `libs/tests/integration/test_table_models.py` holds the two against each other.
Migrations stay hand-written: these declarations never create anything.

Queries use the models with SQLAlchemy Core on the unit of work's connection (`select`,
`insert`, `update` on the model or its `__table__`): rows come back as plain rows, never
as tracked ORM objects (no Session, no lazy loading, no identity map).
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

from sqlalchemy import Column, DateTime, Integer, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import SQLModel

# `timestamptz` as the driver takes it. SQLModel's own type for a bare `datetime` is one
# that raises on a naive value when binding: a query filtering on a client's naive time
# (`?from=2030-01-01T00:00`) would then fail as a 500 instead of being compared.
TIMESTAMPTZ = DateTime(timezone=True)


class TableModel(SQLModel):
    """Base of every table model: SQLModel builds `__table__` but does not declare it."""

    __table__: ClassVar[Table]


@cache
def outbox_table(schema: str) -> Table:
    """`<schema>.outbox` (mss_db.migrations.create_outbox_and_inbox): events to publish."""
    return Table(
        "outbox",
        SQLModel.metadata,
        Column("id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("created_at", TIMESTAMPTZ, nullable=False),
        Column("attempts", Integer, nullable=False),
        schema=schema,
    )


@cache
def inbox_table(schema: str) -> Table:
    """`<schema>.inbox` (mss_db.migrations.create_outbox_and_inbox): events applied."""
    return Table(
        "inbox",
        SQLModel.metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("received_at", TIMESTAMPTZ, nullable=False),
        schema=schema,
    )
