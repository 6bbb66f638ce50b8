"""The introspection process's liveness: /live answers while Redis is down (so a Redis
outage never restarts it), /health says whether it can check sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from mss_identity.config import IdentitySettings
from mss_identity.introspection import create_app
from mss_settings import PlatformSettings


@asynccontextmanager
async def introspection(settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://introspect") as c:
            yield c


async def test_live_and_health_answer_200_with_redis_up(
    platform_settings: PlatformSettings, signing_keys_dir: Path
) -> None:
    async with introspection(IdentitySettings()) as client:
        live = await client.get("/live")
        health = await client.get("/health")

    assert live.status_code == 200
    assert live.json() == {"status": "alive"}
    assert health.status_code == 200


async def test_live_stays_200_while_redis_is_unreachable_and_health_turns_503(
    platform_settings: PlatformSettings, signing_keys_dir: Path
) -> None:
    # Nothing listens on port 1: every Redis call is refused at once.
    settings = IdentitySettings(redis_url="redis://127.0.0.1:1/0")
    async with introspection(settings) as client:
        live = await client.get("/live")
        health = await client.get("/health")

    assert live.status_code == 200
    assert live.json() == {"status": "alive"}
    assert health.status_code == 503
