"""Calling a webhook without being turned against ourselves (SSRF).

Every delivery checks its URL and every address its host resolves to, now
(`domain.webhooks.refused`), and is refused if any address is. Connections are made by
aiohttp through our resolver, which answers only with addresses passing the same check: no
connection is ever made to an address that was not checked when it was made, so a DNS
answer that changes between the check and the call (rebinding) cannot steer one inside.
Connections are kept alive between deliveries (at most `POOL_CONNECTIONS` per host); a kept
one was made to a checked address, and its delivery's own check passed too. TLS verifies
the certificate for the URL's host. Redirects are never followed, cookies never kept,
timeouts are short, and only a small excerpt of the answer is read (a longer answer closes
its connection rather than being read to the end).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from mss_notification.domain.webhooks import EXCERPT_BYTES, Address, refused, url_problem

POOL_CONNECTIONS = 8  # per host: a receiver is never sent more requests at once
KEEPALIVE_S = 30.0


class Refused(Exception):
    """The URL or one of its addresses is not one we call; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreachable(Exception):
    """The endpoint did not answer in time, or not in HTTP; `reason` says how."""

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


def _refusal(addresses: list[Address]) -> str | None:
    for address in addresses:
        reason = refused(address)
        if reason is not None:
            return reason
    return None


async def checked_address(url: str, *, allow_private: bool) -> Address:
    """The first address of `url`'s host, once the URL and all its host's addresses pass."""
    problem = url_problem(url, allow_private=allow_private)
    if problem is not None:
        raise Refused(problem)
    host = urlsplit(url).hostname or ""
    addresses = await resolve(host, _port(url))
    if not allow_private and (reason := _refusal(addresses)) is not None:
        raise Refused(reason)
    return addresses[0]


class CheckedResolver(AbstractResolver):
    """aiohttp's name lookups, answered only with addresses that pass the check."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve(host, port)
        if not self._allow_private and (reason := _refusal(addresses)) is not None:
            raise Refused(reason)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    excerpt: str


class WebhookCaller:
    def __init__(self, *, allow_private: bool, connect_timeout_s: float, timeout_s: float) -> None:
        self.allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s + connect_timeout_s, connect=connect_timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=CheckedResolver(allow_private=self.allow_private),
                use_dns_cache=False,  # every new connection is checked afresh
                limit_per_host=POOL_CONNECTIONS,
                keepalive_timeout=KEEPALIVE_S,
                ssl=ssl.create_default_context(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookie crosses to another webhook
                auto_decompress=False,
            )
        return self._session

    async def post(self, url: str, *, headers: dict[str, str], body: bytes) -> Answer:
        """POST `body` to `url`: Refused, Unreachable, or the Answer (status and excerpt)."""
        await checked_address(url, allow_private=self.allow_private)
        try:
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                excerpt = b""
                while len(excerpt) < EXCERPT_BYTES:
                    chunk = await response.content.read(EXCERPT_BYTES - len(excerpt))
                    if not chunk:
                        break
                    excerpt += chunk
        except TimeoutError as exc:
            raise Unreachable("timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(type(exc).__name__) from exc
        return Answer(status=response.status, excerpt=excerpt.decode("utf-8", errors="replace"))

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
