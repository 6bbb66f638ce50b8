"""Multi-row statements: many rows in one round trip, as one array per column (unnest).

`INSERT ... SELECT FROM unnest($1::uuid[], $2::text[], ...)` is one statement whatever the
number of rows (one prepared plan, one round trip), unlike executemany (a round trip per
row) or a VALUES list (a new statement per row count). It runs on the unit of work's own
connection and transaction, through the driver (asyncpg) directly: SQLAlchemy's per-row
parameter processing is the main cost of a large insert and buys nothing here.

Columns are given as `(name, sql type)`; a `jsonb` or `inet` column is passed as text and
cast in the SELECT (asyncpg has no default array codec for those element types), so the
caller hands over JSON already serialised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from mss_db.engine import driver_connection

# Element types that travel as text and are cast server-side.
_AS_TEXT = frozenset({"jsonb", "json", "inet"})

Column = tuple[str, str]


def unnest_insert_sql(table: str, columns: Sequence[Column], *, suffix: str = "") -> str:
    """The statement `insert_rows` runs (`table` schema-qualified)."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(
        f"${i}::{'text' if kind in _AS_TEXT else kind}[]"
        for i, (_, kind) in enumerate(columns, start=1)
    )
    projected = ", ".join(f"{name}::{kind}" if kind in _AS_TEXT else name for name, kind in columns)
    statement = (
        f"INSERT INTO {table} ({names}) "  # noqa: S608 - identifiers are the caller's constants
        f"SELECT {projected} FROM unnest({arrays}) AS t({names})"
    )
    return f"{statement} {suffix}".strip()


async def insert_rows(
    conn: AsyncConnection,
    table: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    suffix: str = "",
) -> list[Any]:
    """Insert `rows` (tuples in `columns` order) in one statement; the RETURNING rows.

    `suffix` goes after the SELECT: `ON CONFLICT DO NOTHING RETURNING id`, say. Rows are
    inserted in the order given (identity columns number them in that order).
    """
    if not rows:
        return []
    arrays = [list(values) for values in zip(*rows, strict=True)]
    driver = driver_connection(conn)
    statement = unnest_insert_sql(table, columns, suffix=suffix)
    if "RETURNING" in suffix.upper():
        return list(await driver.fetch(statement, *arrays))
    await driver.execute(statement, *arrays)
    return []
