"""`GET /api/notifications/ws`: the caller's new notifications, live.

The token travels in `Sec-WebSocket-Protocol: bearer, <token>` (browsers cannot set an
Authorization header on a WebSocket); the server answers with the subprotocol `bearer`.
The socket is closed with 4401 when the token is bad, or later when its session is
revoked or the token expires (checked every `CHECK_S`, so within 5 s: the replica's hub
asks Redis about every open socket's session in one pipelined round trip), and with 1013
("try again later") when the session store cannot be reached. A JSON ping every
`PING_S` keeps idle proxies from closing it; clients catch up after a reconnect with
`GET /api/notifications?since=`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from mss_auth.principal import Principal
from mss_auth.tokens import KeysUnavailable, TokenError
from mss_contracts.errors import ServiceUnavailable
from mss_notification.adapters.live import (
    CHECK_S,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNAVAILABLE,
    LiveHub,
    Subscriber,
)
from mss_service import ServiceRuntime

log = logging.getLogger("mss.notification.live")

router = APIRouter(prefix="/api/notifications", tags=["notification"])

CLOSE_FORBIDDEN = 4403
PING_S = 25.0


def bearer_subprotocol(websocket: WebSocket) -> str | None:
    """The token of `Sec-WebSocket-Protocol: bearer, <token>`."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if len(offered) >= 2 and offered[0].lower() == "bearer" and offered[1]:
        return offered[1]
    return None


def hub_of(websocket: WebSocket, runtime: ServiceRuntime) -> LiveHub:
    hub = getattr(websocket.app.state, "live_hub", None)
    if hub is None:
        hub = LiveHub(
            runtime.redis, namespace=runtime.settings.bus_namespace, sessions=runtime.sessions
        )
        websocket.app.state.live_hub = hub
    assert isinstance(hub, LiveHub)
    return hub


async def _authenticate(websocket: WebSocket, runtime: ServiceRuntime) -> tuple[Principal, int]:
    token = bearer_subprotocol(websocket)
    if token is None:
        raise TokenError("no bearer subprotocol")
    claims = await runtime.auth.verifier.verify(token)
    if not await runtime.sessions.is_active(claims.sid):
        raise TokenError("session revoked")
    principal = Principal.from_claims(claims, ip_address=None, user_agent=None)
    return principal, claims.exp


@router.websocket("/ws")
async def live_notifications(websocket: WebSocket) -> None:
    runtime: ServiceRuntime = websocket.app.state.runtime
    offered = bearer_subprotocol(websocket) is not None
    await websocket.accept(subprotocol="bearer" if offered else None)
    try:
        principal, expires_at = await _authenticate(websocket, runtime)
    except TokenError:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="invalid or revoked token")
        return
    except (KeysUnavailable, ServiceUnavailable):
        await websocket.close(code=CLOSE_UNAVAILABLE, reason="try again")
        return
    if not principal.can("notifications:read") or principal.api_key:
        await websocket.close(code=CLOSE_FORBIDDEN, reason="missing notifications:read")
        return
    hub = hub_of(websocket, runtime)
    subscriber = hub.join(principal.user_id, principal.session_id)
    try:
        await _serve(websocket, subscriber, expires_at)
    except WebSocketDisconnect:
        pass
    finally:
        hub.leave(subscriber)


async def _serve(websocket: WebSocket, subscriber: Subscriber, expires_at: int) -> None:
    """Send what the hub hands over; close when it ends the socket or the token expires."""
    receiver = asyncio.create_task(_drain(websocket))
    next_check = time.monotonic() + CHECK_S
    next_ping = time.monotonic() + PING_S
    try:
        while not receiver.done():
            wait = max(0.0, min(next_check, next_ping) - time.monotonic())
            # asyncio.timeout, not wait_for: no task made per message (each is sent at once).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    text = await subscriber.queue.get()
                if text is None:  # the hub's session check ended it
                    code = subscriber.close_code or CLOSE_UNAVAILABLE
                    reason = "session ended" if code == CLOSE_UNAUTHORIZED else "try again"
                    await websocket.close(code=code, reason=reason)
                    return
                await websocket.send_text(text)
                continue
            now = time.monotonic()
            if now >= next_check:
                next_check = now + CHECK_S
                if time.time() >= expires_at:
                    await websocket.close(code=CLOSE_UNAUTHORIZED, reason="session ended")
                    return
            if now >= next_ping:
                next_ping = now + PING_S
                await websocket.send_text(json.dumps({"type": "ping"}))
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a close from its side is noticed."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
