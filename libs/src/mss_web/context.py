"""Per-request context (request id, client address) readable from logs and use cases."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from ipaddress import ip_address, ip_network

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class RequestIdMiddleware:
    """Adopt the gateway's X-Request-ID (or mint one) and echo it on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _trusted(peer: str, trusted_proxies: list[str]) -> bool:
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    return any(address in ip_network(entry, strict=False) for entry in trusted_proxies)


def client_address(scope: Scope, trusted_proxies: list[str]) -> str | None:
    """The client's address: the gateway's X-Real-IP when the peer is a trusted proxy.

    `trusted_proxies` holds addresses or CIDR ranges (pods change addresses in a cluster).
    """
    peer = scope.get("client")
    peer_host: str | None = str(peer[0]) if peer else None
    if peer_host is not None and _trusted(peer_host, trusted_proxies):
        real = _header(scope, b"x-real-ip")
        if real:
            try:
                return str(ip_address(real.strip()))
            except ValueError:
                return peer_host
    return peer_host
