"""The fixtures every service's integration tests share (registered in the root conftest)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from mss_auth.sessions import SessionStore
from mss_bus import Topology
from mss_contracts.permissions import OrganizationType, Role
from mss_db.migrations import alembic_config, app_role
from mss_db.provision import ensure_database, ensure_service_schema
from mss_settings import PlatformSettings, admin_database_url, registry, role_database_url
from mss_testing.infra import InfraUrls, infrastructure

ROOT = Path(__file__).resolve().parents[3]
# Consumers the tests start under names of their own (queues to clean up as well).
TEST_CONSUMERS = ("audit-limit", "audit-moved")
TEST_QUEUES = ("events", "second")  # the queues libs/tests/integration/test_consumer.py uses
# Where the services under test reach each other's internal endpoints unless a test mounts
# the owner's app (`serving`): nothing listens on port 1, so a miss finds its owner down at
# once, and never a platform that happens to run on this machine.
UNREACHABLE_OWNER = "http://127.0.0.1:1"


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraUrls]:
    with infrastructure() as urls:
        yield urls


async def _recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def platform_settings(
    infra: InfraUrls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlatformSettings]:
    """A fresh test database with every service migrated, and env pointing services at it."""
    run_dir = Path(os.environ.get("MSS_RUN_DIR", str(tmp_path_factory.mktemp("run"))))
    keys_dir = tmp_path_factory.mktemp("keys")
    env = {
        "MSS_DATABASE_URL": infra.database_url,
        "MSS_REDIS_URL": infra.redis_url,
        "MSS_RABBITMQ_URL": infra.rabbitmq_url,
        "MSS_BUS_NAMESPACE": f"test-{uuid.uuid4().hex[:8]}.",
        "MSS_RUN_DIR": str(run_dir),
        "MSS_IDENTITY_KEYS_DIR": str(keys_dir),
        "MSS_ENV": "test",
        # Tests hash many passwords: keep OWASP's minimum, not more.
        "MSS_PASSWORD_HASH_WORKERS": "2",
        **{f"MSS_{name.upper()}_INTERNAL_URL": UNREACHABLE_OWNER for name in registry.names()},
        # An owner mounted in-process answers its first miss cold (its first connections),
        # on a machine the tests share: room for that, where production allows 1 s.
        "MSS_INTERNAL_TIMEOUT_S": "5",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    settings = PlatformSettings()
    asyncio.run(_recreate_database(settings.database_url))
    asyncio.run(ensure_database(settings))
    for spec in registry.services():
        asyncio.run(ensure_service_schema(settings, spec.schema))
        command.upgrade(alembic_config(spec.directory, admin_database_url(settings)), "head")
    try:
        yield settings
    finally:
        asyncio.run(_drop_topology(settings))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _drop_topology(settings: PlatformSettings) -> None:
    """Leave no queue or exchange of this run's bus namespace (unique per run) on the broker."""
    topology = Topology(settings.bus_namespace)
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(settings.rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            queues = [(spec.name, queue) for spec in registry.services() for queue in spec.queues]
            queues += [(name, queue) for name in TEST_CONSUMERS for queue in TEST_QUEUES]
            for service, queue in queues:
                await channel.queue_delete(topology.queue(service, queue))
                await channel.queue_delete(topology.dead_letter_queue(service, queue))
            await channel.exchange_delete(topology.events_exchange)
            await channel.exchange_delete(topology.dead_letter_exchange)


T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout_s: float = 15.0) -> T:
    """Retry `check` until its assertions hold (bounded, never a fixed sleep)."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(0.05),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    ):
        with attempt:
            return await check()
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def signing_keys_dir(platform_settings: PlatformSettings) -> Path:
    """One ES256 key for the session, where identity (and our key loader) find it."""
    directory = Path(os.environ["MSS_IDENTITY_KEYS_DIR"])
    if not any(directory.glob("*.pem")):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        (directory / "0000000001-test.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return directory


def _private_key(directory: Path) -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization

    path = sorted(directory.glob("*.pem"))[-1]
    return path.stem, serialization.load_pem_private_key(path.read_bytes(), password=None)


@pytest.fixture(scope="session")
def key_loader(
    signing_keys_dir: Path,
) -> Callable[[], Awaitable[Mapping[str, EllipticCurvePublicKey]]]:
    async def load() -> Mapping[str, EllipticCurvePublicKey]:
        kid, key = _private_key(signing_keys_dir)
        return {kid: key.public_key()}

    return load


TokenFactory = Callable[..., Awaitable[str]]


@dataclass(frozen=True)
class Account:
    """A user a test created: its login email, id and organization."""

    email: str
    user_id: uuid.UUID
    org_id: uuid.UUID


AccountFactory = Callable[[str], Awaitable[Account]]


@pytest.fixture
async def mint_token(
    signing_keys_dir: Path, platform_settings: PlatformSettings
) -> AsyncIterator[TokenFactory]:
    """`await mint_token(role=Role.SUPER_ADMIN, org_id=..., org_type=...)` → a live token."""
    import jwt

    redis: Redis = Redis.from_url(platform_settings.redis_url)
    sessions = SessionStore(redis)

    async def mint(
        *,
        role: Role | None = Role.SUPER_ADMIN,
        org_id: uuid.UUID | None = None,
        org_type: OrganizationType = OrganizationType.MSS_PROVIDER,
        user_id: uuid.UUID | None = None,
        permissions: list[str] | None = None,
        live: bool = True,
        lifetime_s: int = 900,
    ) -> str:
        import time

        kid, key = _private_key(signing_keys_dir)
        sid = uuid.uuid4()
        user = user_id or uuid.uuid4()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": platform_settings.token_issuer,
            "aud": platform_settings.token_audience,
            "sub": str(user),
            "sid": str(sid),
            "org": str(org_id or uuid.uuid4()),
            "orgType": org_type.value,
            "amr": ["pwd"],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "jti": uuid.uuid4().hex,
        }
        if role is not None:
            claims["role"] = role.value
        if permissions is not None:
            claims["perms"] = permissions
        if live:
            await sessions.activate(sid, user)
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})

    yield mint
    await redis.aclose()


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (engine, relay, bus) and an in-process HTTP client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.ASGITransport]:
    """The app with its lifespan, as a transport: `runtime.owners.mount(owner, transport)`
    makes another service's projection misses reach this real app in-process."""
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))


@asynccontextmanager
async def owners_serving(app: FastAPI, *owners: str) -> AsyncIterator[None]:
    """The real apps of `owners` (registry names) answer `app`'s projection misses in-process.

    Each owner's app is built from its package by name, so a service's tests import no other
    service's code; the owners run without their relays. `app`'s lifespan must be running
    (its runtime holds the owner client)."""
    async with AsyncExitStack() as stack:
        for owner in owners:
            main = importlib.import_module(f"{registry.service(owner).package}.main")
            transport = await stack.enter_async_context(serving(main.create_app(run_relay=False)))
            app.state.runtime.owners.mount(owner, transport)
        yield


def dsn(url: str) -> str:
    """A SQLAlchemy URL as a plain asyncpg DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def admin_db(platform_settings: PlatformSettings) -> AsyncIterator[asyncpg.Connection]:
    """The superuser on the test database: sees every row (RLS does not apply; triggers do)."""
    conn = await asyncpg.connect(dsn(platform_settings.database_url))
    try:
        yield conn
    finally:
        await conn.close()


AppDb = Callable[[str], Awaitable[asyncpg.Connection]]


@pytest.fixture
async def app_db(platform_settings: PlatformSettings) -> AsyncIterator[AppDb]:
    """`await app_db("audit")`: a connection as that service's app role (RLS applies)."""
    opened: list[asyncpg.Connection] = []

    async def connect(service: str) -> asyncpg.Connection:
        conn = await asyncpg.connect(dsn(role_database_url(platform_settings, app_role(service))))
        opened.append(conn)
        return conn

    try:
        yield connect
    finally:
        for conn in opened:
            await conn.close()


@pytest.fixture
async def redis(platform_settings: PlatformSettings) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(platform_settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def amqp(platform_settings: PlatformSettings) -> AsyncIterator[AbstractRobustConnection]:
    """A broker connection of the test's own, apart from the services' buses."""
    connection = await aio_pika.connect_robust(platform_settings.rabbitmq_url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()
