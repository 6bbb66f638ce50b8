"""Find (or, with Docker, start) the infrastructure the integration tests talk to."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url


@dataclass(frozen=True, slots=True)
class InfraUrls:
    database_url: str  # admin URL of the (test) database
    redis_url: str
    rabbitmq_url: str


def _default_test_database_url() -> str:
    """`<database>_test_<checkout>`: the plugin drops and recreates it at every session, so two
    checkouts (git worktrees) testing at once on one PostgreSQL must never share it."""
    base = os.environ.get("MSS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/mss")
    url = make_url(base)
    checkout = hashlib.sha256(str(Path(__file__).resolve().parents[3]).encode()).hexdigest()[:8]
    database = f"{url.database or 'mss'}_test_{checkout}"
    return url.set(database=database).render_as_string(hide_password=False)


async def _unreachable(urls: InfraUrls) -> str | None:
    """Why the local services cannot be used, or None. A loaded machine may answer a connect
    slowly once, so each is tried a few times before Docker is the answer."""
    reason = ""
    for attempt in range(3):
        try:
            admin = make_url(urls.database_url).set(drivername="postgresql", database="postgres")
            conn = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=5)
            await conn.close()
            redis: Redis = Redis.from_url(urls.redis_url, socket_connect_timeout=5)
            try:
                await redis.ping()
            finally:
                await redis.aclose()
            amqp = await aio_pika.connect(urls.rabbitmq_url, timeout=5)
            await amqp.close()
        except Exception as exc:  # any failure means "not usable"; the reason is reported
            reason = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(1 + attempt)
        else:
            return None
    return reason


def _docker_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0  # noqa: S607


@contextlib.contextmanager
def infrastructure() -> Iterator[InfraUrls]:
    urls = InfraUrls(
        database_url=os.environ.get("MSS_TEST_DATABASE_URL", _default_test_database_url()),
        redis_url=os.environ.get("MSS_REDIS_URL", "redis://127.0.0.1:6379/0"),
        rabbitmq_url=os.environ.get("MSS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
    reason = asyncio.run(_unreachable(urls))
    if reason is None:
        yield urls
        return
    if not _docker_runs():
        raise RuntimeError(
            f"PostgreSQL/Redis/RabbitMQ unreachable ({reason}) and no Docker engine for "
            "testcontainers: set MSS_TEST_DATABASE_URL, MSS_REDIS_URL and MSS_RABBITMQ_URL"
        )
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer
    from testcontainers.redis import RedisContainer

    with (
        PostgresContainer("postgres:15", driver=None) as pg,
        RedisContainer("redis:7") as rd,
        RabbitMqContainer("rabbitmq:3.10") as mq,
    ):
        yield InfraUrls(
            database_url=pg.get_connection_url().replace("/test", "/mss_test"),
            redis_url=f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0",
            rabbitmq_url=(
                f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}/"
            ),
        )
