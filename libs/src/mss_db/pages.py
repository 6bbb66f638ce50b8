"""One page of a list and its `total`, counted cheaply (every service's `meta.total`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

# `meta.total` is exact up to this many rows (docs/api.md "Lists"): counting further would
# cost a scan of every matching row on every page read, for a figure nobody pages through.
TOTAL_CAP = 10_000


# The column the capped count travels in, beside each row of the page.
TOTAL_COLUMN = "mss_page_total"


async def fetch_page(
    conn: AsyncConnection,
    rows: Select[Any],
    *,
    offset: int,
    limit: int,
    cap: int = TOTAL_CAP,
) -> tuple[Sequence[Row[Any]], int]:
    """The page `offset`/`limit` of `rows` (ordered, not yet limited) and the list's total.

    One statement, one round trip: the capped count rides on the page as an uncorrelated
    scalar subquery, which PostgreSQL evaluates once (an InitPlan) and only when the page
    has a row. `count(*)` runs over at most `cap + 1` rows: the total is exact up to `cap`,
    and past it `cap` — but never less than the rows up to the end of this page, so the
    page a client reads is always within `totalPages`. Only a page past the end (no row,
    offset > 0) costs a second statement, to count what is before it.

    The rows carry the extra column `TOTAL_COLUMN` last; read them by name.
    """
    bounded = (
        rows.with_only_columns(literal_column("1"), maintain_column_froms=True)
        .order_by(None)
        .limit(cap + 1)
        .subquery("capped")
    )
    count = select(func.count()).select_from(bounded)
    paged = rows.add_columns(count.scalar_subquery().label(TOTAL_COLUMN))
    page = (await conn.execute(paged.offset(offset).limit(limit))).all()
    if page:
        counted = int(page[0]._mapping[TOTAL_COLUMN])
    elif offset == 0:
        return page, 0
    else:
        counted = int((await conn.execute(count)).scalar_one())
    if len(page) < limit and page:
        return page, offset + len(page)
    reached = offset + len(page) if page else 0
    return page, max(min(counted, cap), reached)
