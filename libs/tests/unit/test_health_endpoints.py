"""/live, /health and /ready of every service app: liveness checks no dependency, so a
broker or database outage never restarts a process that would recover by itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI

from mss_service import health_router


class DownRuntime:
    """Stands in for a ServiceRuntime whose every dependency is down."""

    def __init__(self) -> None:
        self.checked = 0

    async def _down(self) -> None:
        self.checked += 1
        raise ConnectionError("down")

    def health_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"database": self._down, "redis": self._down, "rabbitmq": self._down}

    def ready_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"database": self._down, "migrations": self._down, "rabbitmq": self._down}


def _client(runtime: DownRuntime) -> httpx.AsyncClient:
    app = FastAPI()
    runtime_of: Callable[[Any], Any] = lambda _request: runtime  # noqa: E731
    app.include_router(health_router(runtime_of))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


async def test_live_is_200_and_checks_nothing_while_every_dependency_is_down() -> None:
    runtime = DownRuntime()
    async with _client(runtime) as client:
        response = await client.get("/live")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert runtime.checked == 0


async def test_health_and_ready_are_503_while_the_dependencies_are_down() -> None:
    runtime = DownRuntime()
    async with _client(runtime) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")

    assert health.status_code == 503
    assert health.json()["checks"]["rabbitmq"] == "down: ConnectionError"
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
