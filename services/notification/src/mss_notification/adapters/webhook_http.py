"""Calling a webhook without being turned against ourselves (SSRF).

The host is resolved here, every address checked (`domain.webhooks.refused`), and the
connection made to the checked address itself: a DNS answer that changes between the
check and the call (rebinding) cannot redirect it. TLS still verifies the certificate for
the URL's host (SNI and Host unchanged). Redirects are never followed (httpcore has none),
timeouts are short, and only a small excerpt of the answer is read.

Connections are kept alive between deliveries, in one pool per checked address: a pool
only ever connects to its own address, so a delivery reuses a connection only when its
host resolved, this time too, to the address that connection was made to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore

from mss_notification.domain.webhooks import EXCERPT_BYTES, Address, refused, url_problem


class Refused(Exception):
    """The URL or one of its addresses is not one we call; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=3.0
        )
    except (OSError, TimeoutError) as exc:
        raise Refused("host does not resolve") from exc
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused("host does not resolve")
    return addresses


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


async def checked_address(url: str, *, allow_private: bool) -> Address:
    """The address to call for `url`, once the URL and all its host's addresses pass."""
    problem = url_problem(url, allow_private=allow_private)
    if problem is not None:
        raise Refused(problem)
    host = urlsplit(url).hostname or ""
    addresses = await resolve(host, _port(url))
    if not allow_private:
        for address in addresses:
            reason = refused(address)
            if reason is not None:
                raise Refused(reason)
    return addresses[0]


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects every request to `address`, whatever host the URL names."""

    def __init__(self, address: Address) -> None:
        self._address = str(address)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_tcp(
            self._address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are never called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    excerpt: str


# Per checked address: a receiver is never sent more at once. Callers beyond it wait on
# the address's gate, not inside httpcore, whose pool rescans every waiting request and
# connection each time one finishes (that scan was most of a delivery's CPU).
POOL_CONNECTIONS = 8
KEEPALIVE_S = 30.0
MAX_POOLS = 1_000  # distinct addresses kept warm; the least recently used is closed


@dataclass(slots=True)
class _Pool:
    """The kept-alive connections to one checked address, and the gate in front of them."""

    connections: httpcore.AsyncConnectionPool
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(POOL_CONNECTIONS))


class WebhookCaller:
    def __init__(self, *, allow_private: bool, connect_timeout_s: float, timeout_s: float) -> None:
        self.allow_private = allow_private
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._ssl = ssl.create_default_context()
        self._pools: OrderedDict[str, _Pool] = OrderedDict()

    def _pool(self, address: Address) -> _Pool:
        key = str(address)
        pool = self._pools.get(key)
        if pool is None:
            pool = _Pool(
                httpcore.AsyncConnectionPool(
                    ssl_context=self._ssl,
                    network_backend=_PinnedBackend(address),
                    retries=0,
                    max_connections=POOL_CONNECTIONS,
                    keepalive_expiry=KEEPALIVE_S,
                )
            )
            self._pools[key] = pool
            if len(self._pools) > MAX_POOLS:
                _, oldest = self._pools.popitem(last=False)
                asyncio.get_running_loop().create_task(oldest.connections.aclose())
        self._pools.move_to_end(key)
        return pool

    async def post(self, url: str, *, headers: dict[str, str], body: bytes) -> Answer:
        """POST `body` to `url` at its checked address; Refused, or an Answer, or OSError /
        httpcore errors / TimeoutError when the endpoint cannot be reached in time."""
        address = await checked_address(url, allow_private=self.allow_private)
        timeouts = {
            "connect": self._connect_timeout_s,
            "read": self._timeout_s,
            "write": self._timeout_s,
            "pool": self._timeout_s,
        }
        pool = self._pool(address)
        # In order: a connection's turn, then the deadline, then the request.
        async with (
            pool.gate,
            asyncio.timeout(self._timeout_s + self._connect_timeout_s),
            pool.connections.stream(
                "POST",
                url,
                headers=[(k.encode(), v.encode()) for k, v in headers.items()],
                content=body,
                extensions={"timeout": timeouts},
            ) as response,
        ):
            excerpt = b""
            async for chunk in response.aiter_stream():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        return Answer(
            status=response.status,
            excerpt=excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
        )

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.connections.aclose()
