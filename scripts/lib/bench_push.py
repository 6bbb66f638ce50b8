"""Live push and webhook throughput of the notification service, against the running platform.

`scripts/bench push [--clients 1000] [--orgs 100] [--rate 100] [--seconds 10] [--no-mail]
                    [--listeners 2] [--webhook-events 2000] [--skip-ws] [--skip-webhooks]`

Part 1, event-to-socket: `--orgs` customer organizations with `--clients` admins in all
become known to the notification service through `organization.created` and `user.created`
events published on the platform's bus (what their owners publish). Every admin opens
`/api/notifications/ws` through the gateway with a minted token (the dev signing key under
MSS_RUN_DIR, as the e2e tests do), held by `--listeners` child processes. Once a warm-up
alert per organization has reached every socket, critical `security.alert.created` events
go to the bus at `--rate` per second for `--seconds`, round-robin over the organizations.
Each socket records what it receives (by default every admin is also mailed each alert, as an
organization's defaults say; `--no-mail` turns their mail off). Printed: event-to-socket
latency (the event's timestamp to its arrival on the socket) p50/p95/p99/max, split into
event to stored (the notification's createdAt: the worker) and stored to socket (the live
push: Redis and the API replicas), and lost or doubled (user, alert) pairs.

Part 2, webhooks: one organization with one webhook to a local receiver in this process
(a dev stack admits it: MSS_WEBHOOK_ALLOW_PRIVATE=1), `--webhook-events` alert events
published at once. Printed: deliveries per second from the first to the last signed
delivery received, and how many verified with standardwebhooks.

Figures only, never asserted. Environment: MSS_GATEWAY_URL, MSS_RABBITMQ_URL,
MSS_BUS_NAMESPACE, MSS_REDIS_URL, MSS_RUN_DIR (as scripts/lib/common.sh sets them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
import redis
from bench_alerts_list import mint
from cryptography.hazmat.primitives import serialization
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook as Verifier

from mss_bus import Bus, Topology
from mss_contracts.events import (
    AlertCreated,
    EventContext,
    EventData,
    OrganizationCreated,
    UserCreated,
    new_event,
)
from mss_contracts.permissions import OrganizationType, Role

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = os.environ.get("MSS_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
RABBITMQ = os.environ.get("MSS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
NAMESPACE = os.environ.get("MSS_BUS_NAMESPACE", "")
REDIS = os.environ.get("MSS_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_DIR = Path(os.environ.get("MSS_RUN_DIR") or ROOT / ".run")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class Minter:
    def __init__(self) -> None:
        files = sorted((RUN_DIR / "keys" / "signing").glob("*.pem"))
        if not files:
            raise SystemExit(f"no dev signing key under {RUN_DIR}/keys/signing: scripts/up first")
        self.kid = files[-1].stem
        self.key = serialization.load_pem_private_key(files[-1].read_bytes(), password=None)
        self.redis: Redis = Redis.from_url(REDIS)

    async def token(self, *, user_id: uuid.UUID, org_id: uuid.UUID) -> str:
        now, sid = int(time.time()), uuid.uuid4()
        claims = {
            "iss": "mss-identity",
            "aud": "mss-platform",
            "sub": str(user_id),
            "sid": str(sid),
            "org": str(org_id),
            "orgType": "customer",
            "role": "admin",
            "amr": ["pwd"],
            "iat": now,
            "nbf": now,
            "exp": now + 900,
            "jti": uuid.uuid4().hex,
        }
        await self.redis.set(f"session:{sid}", str(user_id), ex=930)
        return jwt.encode(
            claims,
            self.key,
            algorithm="ES256",  # type: ignore[arg-type]
            headers={"kid": self.kid, "typ": "at+jwt"},
        )


async def publish_all(
    bus: Bus, items: list[tuple[EventData, uuid.UUID, uuid.UUID]], *, at_once: int = 1
) -> list[Any]:
    """Publish in order, `at_once` confirms awaited together (the broker's confirm round
    trip would otherwise bound the rate the consumers see)."""
    envelopes = [
        new_event(
            data, aggregate_id=aggregate, organization_id=org, version=1, context=EventContext()
        )
        for data, aggregate, org in items
    ]
    for start in range(0, len(envelopes), at_once):
        await asyncio.gather(
            *(
                bus.publish(
                    routing_key=envelope.type,
                    body=envelope.model_dump_json(by_alias=True).encode(),
                    message_id=str(envelope.id),
                )
                for envelope in envelopes[start : start + at_once]
            )
        )
    return envelopes


def critical(title: str) -> AlertCreated:
    now = datetime.now(UTC).isoformat()
    return AlertCreated.model_validate(
        {
            "title": title,
            "severity": "critical",
            "status": "open",
            "category": "malware",
            "source": "bench",
            "fingerprint": uuid.uuid4().hex,
            "firstSeenAt": now,
            "lastSeenAt": now,
        }
    )


@dataclass
class Socket:
    user_id: uuid.UUID
    org_id: uuid.UUID
    # (resourceId, arrival, the notification's createdAt: when the worker stored it)
    received: list[tuple[str, float, float]] = field(default_factory=list)


async def open_socket(
    session: aiohttp.ClientSession, token: str
) -> aiohttp.ClientWebSocketResponse:
    url = GATEWAY.replace("http", "ws", 1) + "/api/notifications/ws"
    for attempt in range(50):
        try:
            return await session.ws_connect(
                url, protocols=("bearer", token), timeout=aiohttp.ClientWSTimeout(ws_close=5)
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status != 429:
                raise
            await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
    raise RuntimeError("gateway kept refusing the socket (429)")


async def listen(ws: aiohttp.ClientWebSocketResponse, socket: Socket) -> None:
    async for frame in ws:
        at = time.time()
        if frame.type is not aiohttp.WSMsgType.TEXT:
            continue
        message = json.loads(frame.data)
        if message.get("type") == "notification":
            data = message["data"]
            stored = datetime.fromisoformat(data["createdAt"]).timestamp()
            socket.received.append((data["resourceId"], at, stored))


class Listener:
    """A child process (`--listen`) holding some of the sockets; JSON lines both ways."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, sockets: list[tuple[Socket, str]]) -> Listener:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--listen",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**28,
        )
        listener = cls(process)
        listener.send({"sockets": [[str(s.user_id), token] for s, token in sockets]})
        return listener

    def send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message).encode() + b"\n")

    async def expect(self, key: str) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise SystemExit(f"a listener process ended (waiting for {key!r})")
        message: dict[str, Any] = json.loads(line)
        if key not in message:
            raise SystemExit(f"a listener said {message!r}, not {key!r}")
        return message

    async def close(self) -> None:
        if self._process.returncode is None:
            self._process.terminate()
        await self._process.wait()


async def listen_here() -> None:
    """`--listen`: open the sockets the parent names, report the warm-up, then what arrived."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**28)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def order() -> dict[str, Any]:
        line = await reader.readline()
        if not line:
            raise SystemExit(0)
        message: dict[str, Any] = json.loads(line)
        return message

    def say(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    named = (await order())["sockets"]
    sockets = [Socket(uuid.UUID(user), uuid.UUID(int=0)) for user, _ in named]
    gate = asyncio.Semaphore(25)
    # aiohttp's websocket reader is C: a Python-level reader per frame cost this process
    # about as much CPU as the API pushing to it, CPU the platform under test then lacked.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def connect_one(token: str) -> aiohttp.ClientWebSocketResponse:
        async with gate:
            return await open_socket(session, token)

    conns = list(await asyncio.gather(*(connect_one(token) for _, token in named)))
    tasks = [asyncio.create_task(listen(c, s)) for c, s in zip(conns, sockets, strict=True)]
    say({"connected": len(conns)})
    warm_ids = set((await order())["warm"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(  # noqa: ASYNC110 (a poll with a deadline)
        warm_ids & {resource for resource, _, _ in s.received} for s in sockets
    ):
        await asyncio.sleep(0.2)
    for s in sockets:
        s.received.clear()
    say({"warm": True})
    expected = (await order())["expect"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(len(s.received) for s in sockets) >= expected:
            break
        await asyncio.sleep(0.2)
    say({"received": [s.received for s in sockets]})
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    await session.close()


class Source:
    """Where the timed alerts come from: `ingest` POSTs each through the gateway with its
    organization's integration token (the security service stores it, its outbox relays
    the event: the whole path), `bus` publishes the event as security would (the
    notification service alone)."""

    def __init__(
        self,
        args: argparse.Namespace,
        bus: Bus,
        http: httpx.AsyncClient,
        ingest: aiohttp.ClientSession,
    ) -> None:
        self._args, self._bus, self._http, self._ingest = args, bus, http, ingest
        self._sessions = redis.Redis.from_url(REDIS)
        self._tokens: dict[uuid.UUID, str] = {}
        self.failures = 0

    async def organizations(self) -> list[uuid.UUID]:
        args = self._args
        settings: dict[str, Any] = {} if args.mail else {"notificationDefaults": {"email": False}}
        if args.via == "bus":
            orgs = [uuid.uuid4() for _ in range(args.orgs)]
            created = [
                OrganizationCreated(
                    name=f"bench {o.hex[:6]}",
                    type=OrganizationType.CUSTOMER,
                    status="active",
                    settings=settings,
                )
                for o in orgs
            ]
            await publish_all(self._bus, [(c, o, o) for c, o in zip(created, orgs, strict=True)])
            return orgs
        admin = {"Authorization": f"Bearer {mint(self._sessions, role='super_admin')}"}
        orgs = []
        for _ in range(args.orgs):
            response = await self._http.post(
                "/api/organizations", json={"name": f"push-{uuid.uuid4().hex[:8]}"}, headers=admin
            )
            response.raise_for_status()
            org = uuid.UUID(response.json()["data"]["id"])
            response = await self._http.put(
                f"/api/organizations/{org}/settings",
                json={"alertQuotaPerMinute": 1_000_000, **settings},
                headers=admin,
            )
            response.raise_for_status()
            self._tokens[org] = mint(
                self._sessions,
                sub=str(uuid.uuid4()),
                org=str(org),
                orgType="customer",
                role=None,
                perms=["alerts:create"],
            )
            orgs.append(org)
        return orgs

    async def alert(self, org: uuid.UUID, title: str) -> tuple[str, float] | None:
        """Send one critical alert: its id and when it was sent (None if refused)."""
        at = time.time()
        if self._args.via == "bus":
            [envelope] = await publish_all(self._bus, [(critical(title), uuid.uuid4(), org)])
            return str(envelope.aggregate_id), envelope.metadata.timestamp.timestamp()
        body = {
            "title": title,
            "description": "bench push alert",
            "severity": "critical",
            "category": "malware",
            "source": "bench-push",
            "sourceRef": uuid.uuid4().hex,
            "affectedAssets": ["srv-01"],
        }
        async with self._ingest.post(
            "/api/alerts", json=body, headers={"Authorization": f"Bearer {self._tokens[org]}"}
        ) as response:
            if response.status != 201:
                self.failures += 1
                return None
            return str((await response.json())["data"]["id"]), at

    def close(self) -> None:
        self._sessions.close()


async def bench_ws(args: argparse.Namespace, bus: Bus) -> None:
    # The timed POSTs go through aiohttp: httpcore's pool scans every connection for each
    # request, and at 200 connections the bench's own CPU capped the rate at ~40/s.
    async with (
        httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http,
        aiohttp.ClientSession(
            base_url=GATEWAY,
            connector=aiohttp.TCPConnector(limit=200),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as ingest,
    ):
        source = Source(args, bus, http, ingest)
        try:
            await _bench_ws(args, bus, source)
        finally:
            source.close()


async def _bench_ws(args: argparse.Namespace, bus: Bus, source: Source) -> None:
    minter = Minter()
    orgs = await source.organizations()
    sockets = [Socket(uuid.uuid4(), orgs[i % len(orgs)]) for i in range(args.clients)]
    await publish_all(
        bus,
        [
            (
                UserCreated(
                    email=f"bench-{s.user_id.hex[:10]}@example.com",
                    first_name="B",
                    last_name="P",
                    role=Role.ADMIN,
                    status="active",
                ),
                s.user_id,
                s.org_id,
            )
            for s in sockets
        ],
    )
    print(f"published {len(orgs)} organization.created and {len(sockets)} user.created")
    # The sockets are held by --listeners processes of their own: one Python process
    # reading 1,000 sockets would lag behind the pushes, and its lag would be counted as
    # the platform's. Each listener connects its share, then waits for the warm-up.
    started = time.monotonic()
    groups = [sockets[i :: args.listeners] for i in range(args.listeners)]
    listeners = [
        await Listener.start(
            [(s, await minter.token(user_id=s.user_id, org_id=s.org_id)) for s in g]
        )
        for g in groups
    ]
    for listener in listeners:
        await listener.expect("connected")
    print(
        f"{len(sockets)} sockets open through the gateway ({args.listeners} listener "
        f"processes) in {time.monotonic() - started:.1f} s"
    )
    # Steady state before the timed phase: one warm-up alert per organization, and every
    # socket has its own (the directory events are applied, every replica subscribed).
    warm = await asyncio.gather(*(source.alert(org, "warm-up") for org in orgs))
    for listener in listeners:
        listener.send({"warm": [w[0] for w in warm if w is not None]})
    for listener in listeners:
        await listener.expect("warm")
    print(f"warm-up pushed to every socket {time.monotonic() - started:.1f} s after connecting")

    sent: dict[str, tuple[uuid.UUID, float]] = {}
    answered: list[float] = []  # each accepted alert's send-to-answer time
    total = args.rate * args.seconds

    async def send(org: uuid.UUID, i: int) -> None:
        result = await source.alert(org, f"bench {i}")
        if result is not None:
            sent[result[0]] = (org, result[1])
            answered.append(time.time() - result[1])

    # Each alert on its own task: a slow answer never slows the rate down.
    sending = []
    t0 = time.monotonic()
    for i in range(total):
        sending.append(asyncio.create_task(send(orgs[i % len(orgs)], i)))
        pause = t0 + (i + 1) / args.rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
    await asyncio.gather(*sending)
    publish_s = time.monotonic() - t0
    print(
        f"sent {len(sent)} critical alerts ({args.via}) in {publish_s:.1f} s "
        f"({len(sent) / publish_s:.0f}/s), {source.failures} refused; answered in "
        f"p50 {percentile(answered, 50) * 1000:.0f} ms, "
        f"p99 {percentile(answered, 99) * 1000:.0f} ms"
    )
    expected = {(s.user_id, a) for s in sockets for a, (o, _) in sent.items() if o == s.org_id}
    for listener, group in zip(listeners, groups, strict=True):
        orgs_of = Counter(s.org_id for s in group)
        listener.send({"expect": sum(orgs_of[o] for o, _ in sent.values())})
    for listener, group in zip(listeners, groups, strict=True):
        received = (await listener.expect("received"))["received"]
        for s, got in zip(group, received, strict=True):
            s.received = [(resource, at, stored) for resource, at, stored in got]
    latencies, stored_after, pushed_after, pairs = [], [], [], Counter()
    for s in sockets:
        for resource, at, stored in s.received:
            if resource in sent:
                pairs[(s.user_id, resource)] += 1
                latencies.append(at - sent[resource][1])
                stored_after.append(stored - sent[resource][1])
                pushed_after.append(at - stored)
    lost = len(expected - set(pairs))
    doubled = sum(1 for n in pairs.values() if n > 1)
    ms = {p: percentile(latencies, p) * 1000 for p in (50, 95, 99, 100)}
    print(
        f"event-to-socket over {len(latencies)} pushes (expected {len(expected)}): "
        f"p50 {ms[50]:.0f} ms, p95 {ms[95]:.0f} ms, p99 {ms[99]:.0f} ms, max {ms[100]:.0f} ms; "
        f"lost {lost}, doubled {doubled}"
    )
    for name, part in (("event to stored", stored_after), ("stored to socket", pushed_after)):
        print(
            f"  {name}: p50 {percentile(part, 50) * 1000:.0f} ms, "
            f"p99 {percentile(part, 99) * 1000:.0f} ms"
        )
    for listener in listeners:
        await listener.close()
    await minter.redis.aclose()


@dataclass
class Received:
    at: list[float] = field(default_factory=list)
    verified: int = 0
    bad: int = 0


async def bench_webhooks(args: argparse.Namespace, bus: Bus) -> None:
    minter = Minter()
    org, admin = uuid.uuid4(), uuid.uuid4()
    await publish_all(
        bus,
        [
            (
                OrganizationCreated(
                    name="bench hooks", type=OrganizationType.CUSTOMER, status="active"
                ),
                org,
                org,
            )
        ],
    )
    received = Received()
    verifier: list[Verifier] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while line := await reader.readline():
                del line
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received.at.append(time.monotonic())
                try:
                    verifier[0].verify(body, headers)
                    received.verified += 1
                except Exception:
                    received.bad += 1
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    token = await minter.token(user_id=admin, org_id=org)
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
        created = await http.post(
            "/api/webhooks",
            headers={"Authorization": f"Bearer {token}"},
            json={"url": f"http://127.0.0.1:{port}/hook", "events": ["security.alert.*"]},
        )
        if created.status_code != 201:
            raise SystemExit(f"webhook registration refused: {created.status_code} {created.text}")
        verifier.append(Verifier(created.json()["data"]["secret"]))
    n = args.webhook_events
    t0 = time.monotonic()
    await publish_all(
        bus, [(critical(f"hook {i}"), uuid.uuid4(), org) for i in range(n)], at_once=100
    )
    print(f"published {n} alert events for one webhook in {time.monotonic() - t0:.1f} s")
    deadline = time.monotonic() + 180
    while len(received.at) < n and time.monotonic() < deadline:  # noqa: ASYNC110 (a poll with a deadline)
        await asyncio.sleep(0.5)
    server.close()
    for task in handlers:  # the worker keeps its connections alive: end them here
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    if len(received.at) < 2:
        print(f"webhooks: {len(received.at)} deliveries received")
        return
    span = received.at[-1] - received.at[0]
    print(
        f"webhooks: {len(received.at)}/{n} delivered, {received.verified} verified, "
        f"{received.bad} bad signatures; {len(received.at) / span:.0f} deliveries/s "
        f"(first to last delivery, {span:.1f} s)"
    )
    await minter.redis.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--webhook-events", type=int, default=2000)
    parser.add_argument(
        "--via",
        choices=("ingest", "bus"),
        default="ingest",
        help="alerts POSTed through the gateway (default) or published on the bus",
    )
    parser.add_argument(
        "--no-mail",
        dest="mail",
        action="store_false",
        help="the socket clients' organizations mail nobody (in-app only): push alone",
    )
    parser.add_argument(
        "--listeners", type=int, default=2, help="processes holding the sockets (default 2)"
    )
    parser.add_argument("--listen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-ws", action="store_true")
    parser.add_argument("--skip-webhooks", action="store_true")
    args = parser.parse_args()
    if args.listen:
        await listen_here()
        return
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    bus = Bus(RABBITMQ, Topology(NAMESPACE))
    try:
        if not args.skip_ws:
            await bench_ws(args, bus)
        if not args.skip_webhooks:
            await bench_webhooks(args, bus)
    finally:
        await bus.close()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
