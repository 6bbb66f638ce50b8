"""The other services' internal read endpoints, as one service process reaches them.

One pooled `httpx.AsyncClient` for the process, a fresh service token per call, and a
hard deadline: a projection miss waits at most `MSS_INTERNAL_TIMEOUT_S` (1 s) for its
owner in all, whatever phase (connect, send, read) is slow.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from mss_auth.service_tokens import ServiceTokens
from mss_settings import PlatformSettings

log = logging.getLogger("mss.projections")


class OwnerUnreachable(Exception):
    """No usable answer: the owner is down or slow, refused our token, or failed (5xx)."""


class OwnerClient:
    """`await owners.get("organization", "/internal/organizations/…")` → 200 or 404."""

    def __init__(self, *, settings: PlatformSettings, tokens: ServiceTokens) -> None:
        self._settings = settings
        self._tokens = tokens
        self._timeout_s = settings.internal_timeout_s
        self._client: httpx.AsyncClient | None = None
        self._mounted: dict[str, httpx.AsyncClient] = {}

    def mount(self, owner: str, transport: httpx.AsyncBaseTransport) -> None:
        """Reach `owner` through `transport` instead of its address (tests mount the
        owner's ASGI app, so a miss crosses the real app in-process)."""
        self._mounted[owner] = httpx.AsyncClient(
            transport=transport, base_url=f"http://{owner}", timeout=self._timeout_s
        )

    def _client_for(self, owner: str) -> tuple[httpx.AsyncClient, str]:
        mounted = self._mounted.get(owner)
        if mounted is not None:
            return mounted, ""
        if self._client is None:
            # Opened on first use: a process that never misses holds no connection.
            self._client = httpx.AsyncClient(
                timeout=self._timeout_s,
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            )
        return self._client, self._settings.internal_url(owner)

    async def get(self, owner: str, path: str) -> httpx.Response:
        """The owner's answer to `GET path`: a 200 or a 404, else OwnerUnreachable."""
        client, base = self._client_for(owner)
        headers = {"Authorization": f"Bearer {self._tokens.issue(owner)}"}
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await client.get(base + path, headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise OwnerUnreachable(f"{owner}: {type(exc).__name__}") from exc
        if response.status_code in (200, 404):
            return response
        if response.status_code == 401:
            # Not a passing outage: the two processes hold different service-token keys.
            log.error("%s refused our service token (MSS_SERVICE_TOKEN_SECRET differs?)", owner)
        raise OwnerUnreachable(f"{owner}: HTTP {response.status_code}")

    async def aclose(self) -> None:
        for client in (self._client, *self._mounted.values()):
            if client is not None:
                await client.aclose()
