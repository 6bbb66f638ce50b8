"""Provisioning leaves the server vacuuming (the platform's queues depend on it)."""

from __future__ import annotations

import asyncpg
import pytest

from mss_db.provision import ensure_database
from mss_settings import PlatformSettings
from mss_testing.plugin import eventually

pytestmark = pytest.mark.integration


async def test_provisioning_turns_autovacuum_on_where_the_server_has_it_off(
    admin_db: asyncpg.Connection, platform_settings: PlatformSettings
) -> None:
    # A session reads a reload at its next command, once the signal has reached it.
    async def now_is(expected: str) -> None:
        assert await admin_db.fetchval("SELECT current_setting('autovacuum')") == expected

    await admin_db.execute("ALTER SYSTEM SET autovacuum = off")
    await admin_db.execute("SELECT pg_reload_conf()")
    try:
        await eventually(lambda: now_is("off"), timeout_s=5)
        await ensure_database(platform_settings)
        await eventually(lambda: now_is("on"), timeout_s=5)
    finally:
        await admin_db.execute("ALTER SYSTEM SET autovacuum = on")
        await admin_db.execute("SELECT pg_reload_conf()")
