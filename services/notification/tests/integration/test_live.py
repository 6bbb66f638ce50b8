"""The live inbox over a real WebSocket (uvicorn in-process): the bearer subprotocol, a
notification pushed after its event, 4401 on a bad token and on session revocation."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import jwt
import pytest
import uvicorn
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from mss_auth.sessions import SessionStore, session_key
from mss_auth.tokens import KeyLoader
from mss_contracts.permissions import OrganizationType, Role
from mss_notification.adapters.live import LiveHub, Sessions
from mss_notification.api import live as live_api
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

    @property
    def hub(self) -> LiveHub:
        live = getattr(self.server.config.app.state, "live_hub", None)
        assert isinstance(live, LiveHub)
        return live

    async def hub_ready(self) -> None:
        async def ready() -> None:
            app = self.server.config.app
            live = getattr(app.state, "live_hub", None)
            assert isinstance(live, LiveHub)
            assert live.ready.is_set()

        await eventually(ready)


@asynccontextmanager
async def serving(key_loader: KeyLoader) -> AsyncIterator[Served]:
    """One API replica: the app under uvicorn on a port of its own."""
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


@pytest.fixture
async def served(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[Served]:
    async with serving(key_loader) as one:
        yield one


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


async def read_until_closed(ws: ClientConnection, *, within_s: float) -> None:
    """Read (pings may come first) until the server closes; TimeoutError if it does not."""
    async with asyncio.timeout(within_s):
        while True:
            await ws.recv()


async def test_the_socket_closes_with_4401_when_its_token_expires(
    world: World, served: Served
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    token = await world.mint(
        role=Role.ADMIN,
        user_id=admin,
        org_id=org,
        org_type=OrganizationType.CUSTOMER,
        lifetime_s=2,
    )
    async with await open_socket(served.url, token) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await read_until_closed(ws, within_s=2 + CLOSE_DEADLINE_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_an_idle_socket_gets_a_json_ping_every_interval(
    world: World, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat that keeps idle proxies from closing the socket."""
    monkeypatch.setattr(live_api, "PING_S", 0.2)
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    token = (await world.headers(admin))["Authorization"].removeprefix("Bearer ")
    async with await open_socket(served.url, token) as ws:
        pings = [json.loads(await asyncio.wait_for(ws.recv(), timeout=5)) for _ in range(2)]
    assert pings == [{"type": "ping"}, {"type": "ping"}]


async def test_each_api_replica_pushes_to_the_sockets_it_serves(
    world: World, handler: EventHandler, platform_settings: PlatformSettings, key_loader: KeyLoader
) -> None:
    """Two replicas, the same user on each (two devices) and a colleague on the second:
    one event reaches every socket, through each replica's own subscription."""
    org = await world.org()
    admin, viewer = await world.user(Role.ADMIN, org), await world.user(Role.REPORT_VIEWER, org)
    admin_token = (await world.headers(admin))["Authorization"].removeprefix("Bearer ")
    viewer_token = (await world.headers(viewer))["Authorization"].removeprefix("Bearer ")
    async with (
        serving(key_loader) as first,
        serving(key_loader) as second,
        await open_socket(first.url, admin_token) as on_first,
        await open_socket(second.url, admin_token) as on_second,
        await open_socket(second.url, viewer_token) as viewer_on_second,
    ):
        await first.hub_ready()
        await second.hub_ready()
        event = envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org)
        await handler(event)
        for ws, user in ((on_first, admin), (on_second, admin), (viewer_on_second, viewer)):
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
            assert message["data"]["resourceId"] == str(event.aggregate_id)
            assert message["data"]["userId"] == str(user)


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


@dataclass
class CountingSessions:
    """The real session store, noting the sessions each check asked about."""

    store: Sessions
    calls: list[set[uuid.UUID]] = field(default_factory=list)

    async def active(self, session_ids: Collection[uuid.UUID], /) -> set[uuid.UUID]:
        self.calls.append(set(session_ids))
        return await self.store.active(session_ids)


async def _sockets(
    world: World, served: Served, count: int
) -> tuple[list[ClientConnection], list[str]]:
    org = await world.org()
    tokens = []
    for _ in range(count):
        user = await world.user(Role.ADMIN, org)
        tokens.append((await world.headers(user))["Authorization"].removeprefix("Bearer "))
    sockets = [await open_socket(served.url, token) for token in tokens]
    await served.hub_ready()
    return sockets, tokens


def _sid(token: str) -> uuid.UUID:
    return uuid.UUID(jwt.decode(token, options={"verify_signature": False})["sid"])


async def test_one_session_check_per_interval_asks_about_every_open_socket_at_once(
    world: World, served: Served, redis: Redis
) -> None:
    sockets, tokens = await _sockets(world, served, 3)
    counting = CountingSessions(served.hub.sessions)
    served.hub.sessions = counting
    try:
        sids = {_sid(token) for token in tokens}

        async def asked_about_all() -> None:
            # One call for all the sockets (not one per socket), once each has joined.
            assert counting.calls
            assert counting.calls[-1] == sids

        await eventually(asked_about_all, timeout_s=3 * CLOSE_DEADLINE_S)

        await redis.delete(session_key(_sid(tokens[0])))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sockets[0].recv(), timeout=CLOSE_DEADLINE_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        calls = len(counting.calls)

        async def next_check() -> None:
            assert len(counting.calls) > calls

        await eventually(next_check, timeout_s=CLOSE_DEADLINE_S)
        assert counting.calls[-1] == sids - {_sid(tokens[0])}, "the closed socket is gone"
        for ws in sockets[1:]:
            with pytest.raises(TimeoutError):  # the others stay open
                await asyncio.wait_for(ws.recv(), timeout=0.1)
    finally:
        for ws in sockets:
            await ws.close()


async def test_an_unreachable_session_store_closes_every_socket_with_1013(
    world: World, served: Served
) -> None:
    sockets, _ = await _sockets(world, served, 2)
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    served.hub.sessions = SessionStore(unreachable)
    try:
        for ws in sockets:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=CLOSE_DEADLINE_S)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1013
    finally:
        await unreachable.aclose()
        for ws in sockets:
            await ws.close()
