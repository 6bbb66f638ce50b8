"""The API's pool pings no connection per checkout, yet a database that dropped every
connection (restart, failover) costs no request: the next one succeeds (`mss_db.engine`)."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from mss_testing.plugin import TokenFactory

pytestmark = pytest.mark.integration

LIST = "/api/organizations?limit=1"


async def test_the_next_requests_succeed_after_the_database_drops_every_connection(
    client: httpx.AsyncClient, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    headers = {"Authorization": f"Bearer {await mint_token()}"}
    # Several connections into the API's pool.
    answers = await asyncio.gather(*(client.get(LIST, headers=headers) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    killed = await admin_db.fetch(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE usename = 'organization_app' AND datname = current_database()"
    )
    assert killed
    pids = [row["pid"] for row in killed]
    for _ in range(100):
        alive = await admin_db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
        )
        if not alive:
            break
        await asyncio.sleep(0.05)

    after = await asyncio.gather(*(client.get(LIST, headers=headers) for _ in range(6)))
    assert [a.status_code for a in after] == [200] * 6
    again = await client.get(LIST, headers=headers)
    assert again.status_code == 200, again.text
