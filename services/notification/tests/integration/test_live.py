"""The live inbox over a real WebSocket (uvicorn in-process): the bearer subprotocol, a
notification pushed after its event, 4401 on a bad token and on session revocation."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator

import jwt
import pytest
import uvicorn
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from mss_auth.sessions import session_key
from mss_auth.tokens import KeyLoader
from mss_contracts.permissions import Role
from mss_notification.adapters.live import LiveHub
from mss_notification.consumers.on_event import EventHandler
from mss_notification.main import build_runtime, create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import eventually

from .conftest import World, alert, envelope

pytestmark = pytest.mark.integration

# A bound, not a measurement: API.md allows 5 s from revocation to the close.
CLOSE_DEADLINE_S = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.url = f"ws://127.0.0.1:{port}/api/notifications/ws"

    async def hub_ready(self) -> None:
        async def ready() -> None:
            app = self.server.config.app
            live = getattr(app.state, "live_hub", None)
            assert isinstance(live, LiveHub)
            assert live.ready.is_set()

        await eventually(ready)


@pytest.fixture
async def served(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[Served]:
    port = free_port()
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> None:
        assert server.started

    await eventually(started)
    try:
        yield Served(server, port)
    finally:
        server.should_exit = True
        await task


async def open_socket(url: str, token: str) -> ClientConnection:
    return await connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)])


async def test_a_notification_arrives_live_and_revocation_closes_with_4401(
    world: World, handler: EventHandler, served: Served, redis: Redis
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    token = (await world.headers(admin))["Authorization"].removeprefix("Bearer ")
    async with await open_socket(served.url, token) as ws:
        assert ws.subprotocol == "bearer"
        await served.hub_ready()
        event = envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org)
        await handler(event)
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        assert message["type"] == "notification"
        assert message["data"]["type"] == "security.alert.created"
        assert message["data"]["userId"] == str(admin)
        assert message["data"]["resourceId"] == str(event.aggregate_id)

        sid = jwt.decode(token, options={"verify_signature": False})["sid"]
        await redis.delete(session_key(uuid.UUID(sid)))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=CLOSE_DEADLINE_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401


async def test_another_users_notification_is_not_pushed(
    world: World, handler: EventHandler, served: Served
) -> None:
    org = await world.org()
    admin, requester = await world.user(Role.ADMIN, org), await world.user(Role.REQUEST_USER, org)
    token = (await world.headers(requester))["Authorization"].removeprefix("Bearer ")
    async with await open_socket(served.url, token) as ws:
        await served.hub_ready()
        await handler(envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org))
        del admin
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), timeout=1.5)


@pytest.mark.parametrize("token", ["not-a-token", ""])
async def test_a_bad_or_missing_token_is_closed_with_4401(served: Served, token: str) -> None:
    protocols = [Subprotocol("bearer"), Subprotocol(token)] if token else None
    async with connect(served.url, subprotocols=protocols) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
