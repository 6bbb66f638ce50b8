"""Each service's table models say what its migrations built: tables, columns, types, nulls.

For every registered service, the tables declared by `mss_<name>.adapters.tables` (its
SQLModel models and the libraries' tables it holds: outbox, inbox, grant projections) are
set against the service's schema in the migrated test database. PostgreSQL normalises
both sides: the models' columns are created, inside a transaction that is rolled back, in
a scratch schema, and both schemas are read from the same catalog query, so `varchar(255)`
and `VARCHAR(255)`, `text[]` and `ARRAY(Text)` compare as PostgreSQL spells them.
"""

from __future__ import annotations

import importlib

import asyncpg
import pytest
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable
from sqlmodel import SQLModel

from mss_settings import registry
from mss_settings.registry import ServiceSpec

pytestmark = pytest.mark.integration

# Where the models' columns are created for PostgreSQL to spell their types (rolled back).
SCRATCH = "table_models_probe"

# table -> column -> (type as PostgreSQL formats it, NOT NULL)
Layout = dict[str, dict[str, tuple[str, bool]]]


async def layout(conn: asyncpg.Connection, schema: str) -> Layout:
    """The ordinary tables of `schema` and their columns (Alembic's version table aside)."""
    rows = await conn.fetch(
        """
        SELECT c.relname AS table_name, a.attname AS column_name,
               format_type(a.atttypid, a.atttypmod) AS column_type, a.attnotnull AS not_null
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
          AND a.attnum > 0 AND NOT a.attisdropped
        """,
        schema,
    )
    tables: Layout = {}
    for row in rows:
        tables.setdefault(row["table_name"], {})[row["column_name"]] = (
            row["column_type"],
            row["not_null"],
        )
    return tables


def declared_tables(spec: ServiceSpec) -> list[Table]:
    """The tables `mss_<name>.adapters.tables` declares in the service's schema."""
    importlib.import_module(f"{spec.package}.adapters.tables")
    return [table for table in SQLModel.metadata.sorted_tables if table.schema == spec.schema]


async def model_layout(conn: asyncpg.Connection, tables: list[Table]) -> Layout:
    """The layout PostgreSQL gives the declared columns (types and nullability only)."""
    scratch = MetaData(schema=SCRATCH)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(f"CREATE SCHEMA {SCRATCH}")
        for table in tables:
            columns = [Column(c.name, c.type, nullable=c.nullable) for c in table.columns]
            probe = Table(table.name, scratch, *columns)
            await conn.execute(str(CreateTable(probe).compile(dialect=postgresql.dialect())))
        found = await layout(conn, SCRATCH)
    finally:
        # The scratch schema only lived to let PostgreSQL spell the types.
        await transaction.rollback()
    return found


def drift(models: Layout, migrated: Layout) -> list[str]:
    """Every way the models and the migrated schema disagree, one line each."""
    problems = [f"{t}: migrated, but no model declares it" for t in migrated.keys() - models]
    problems += [f"{t}: declared, but no migration creates it" for t in models.keys() - migrated]
    for table in models.keys() & migrated.keys():
        declared, actual = models[table], migrated[table]
        problems += [f"{table}.{c}: migrated, not in the model" for c in actual.keys() - declared]
        problems += [f"{table}.{c}: in the model, not migrated" for c in declared.keys() - actual]
        for column in declared.keys() & actual.keys():
            if declared[column] != actual[column]:
                problems.append(
                    f"{table}.{column}: model {_spelled(declared[column])}, "
                    f"migration {_spelled(actual[column])}"
                )
    return sorted(problems)


def _spelled(column: tuple[str, bool]) -> str:
    type_, not_null = column
    return f"{type_} {'NOT NULL' if not_null else 'NULL'}"


@pytest.mark.parametrize("spec", registry.services(), ids=lambda spec: spec.name)
async def test_the_table_models_match_the_migrated_schema(
    spec: ServiceSpec, admin_db: asyncpg.Connection
) -> None:
    declared = declared_tables(spec)
    assert declared, f"{spec.package}.adapters.tables declares no table of {spec.schema}"
    models = await model_layout(admin_db, declared)
    problems = drift(models, await layout(admin_db, spec.schema))
    assert not problems, f"{spec.schema}: models and migrations differ:\n" + "\n".join(problems)


def test_drift_names_each_difference() -> None:
    migrated: Layout = {
        "things": {"id": ("uuid", True), "name": ("character varying(255)", True)},
        "extra": {"id": ("uuid", True)},
    }
    models: Layout = {
        "things": {"id": ("uuid", True), "name": ("text", False), "note": ("text", False)},
        "ghost": {"id": ("uuid", True)},
    }
    assert drift(models, migrated) == [
        "extra: migrated, but no model declares it",
        "ghost: declared, but no migration creates it",
        "things.name: model text NULL, migration character varying(255) NOT NULL",
        "things.note: in the model, not migrated",
    ]
