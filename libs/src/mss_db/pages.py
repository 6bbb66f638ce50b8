"""One page of a list and its `total`, counted cheaply (every service's `meta.total`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

# `meta.total` is exact up to this many rows (docs/api.md "Lists"): counting further would
# cost a scan of every matching row on every page read, for a figure nobody pages through.
TOTAL_CAP = 10_000


async def fetch_page(
    conn: AsyncConnection,
    rows: Select[Any],
    *,
    offset: int,
    limit: int,
    cap: int = TOTAL_CAP,
) -> tuple[Sequence[Row[Any]], int]:
    """The page `offset`/`limit` of `rows` (ordered, not yet limited) and the list's total.

    A short page holds the end of the list, so the total needs no count. Otherwise
    `count(*)` runs over at most `cap + 1` rows: the total is exact up to `cap`, and past it
    `cap` — but never less than the rows up to the end of this page, so the page a client
    reads is always within `totalPages`.
    """
    page = (await conn.execute(rows.offset(offset).limit(limit))).all()
    if len(page) < limit and (page or offset == 0):
        return page, offset + len(page)
    bounded = (
        rows.with_only_columns(literal_column("1"), maintain_column_froms=True)
        .order_by(None)
        .limit(cap + 1)
        .subquery("capped")
    )
    counted = int((await conn.execute(select(func.count()).select_from(bounded))).scalar_one())
    reached = offset + len(page) if page else 0
    return page, max(min(counted, cap), reached)
