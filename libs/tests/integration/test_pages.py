"""`meta.total` counted cheaply: exact up to the cap, never a page the client cannot see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from mss_db.engine import create_engine
from mss_db.pages import fetch_page
from mss_settings import PlatformSettings, admin_database_url

pytestmark = pytest.mark.integration

ROWS = 12
numbers = Table("page_numbers", MetaData(), Column("n", Integer, primary_key=True))
ORDERED = select(numbers).order_by(numbers.c.n)


@pytest.fixture
async def conn(platform_settings: PlatformSettings) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(admin_database_url(platform_settings), pool_size=1)
    async with engine.connect() as conn:
        await conn.execute(text("CREATE TEMP TABLE page_numbers (n int PRIMARY KEY)"))
        await conn.execute(numbers.insert(), [{"n": n} for n in range(ROWS)])
        yield conn
    await engine.dispose()


async def _page(conn: AsyncConnection, offset: int, limit: int, cap: int) -> tuple[list[int], int]:
    rows, total = await fetch_page(conn, ORDERED, offset=offset, limit=limit, cap=cap)
    return [row.n for row in rows], total


async def test_below_the_cap_the_total_is_exact(conn: AsyncConnection) -> None:
    assert await _page(conn, 0, 5, cap=100) == ([0, 1, 2, 3, 4], ROWS)
    assert await _page(conn, 10, 5, cap=100) == ([10, 11], ROWS)  # a short page: no count
    assert await _page(conn, 0, 50, cap=100) == (list(range(ROWS)), ROWS)
    assert await _page(conn, 20, 5, cap=100) == ([], ROWS)  # past the end


async def test_past_the_cap_the_total_is_the_cap_or_the_rows_up_to_this_page(
    conn: AsyncConnection,
) -> None:
    assert await _page(conn, 0, 2, cap=5) == ([0, 1], 5)
    assert await _page(conn, 6, 2, cap=5) == ([6, 7], 8)
    assert await _page(conn, 10, 5, cap=5) == ([10, 11], ROWS)
    assert await _page(conn, 0, 5, cap=ROWS) == ([0, 1, 2, 3, 4], ROWS)


async def test_an_empty_list_counts_nothing(conn: AsyncConnection) -> None:
    await conn.execute(text("DELETE FROM page_numbers"))
    assert await _page(conn, 0, 5, cap=100) == ([], 0)
    assert await _page(conn, 5, 5, cap=100) == ([], 0)
