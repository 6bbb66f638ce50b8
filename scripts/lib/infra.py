"""Which of PostgreSQL, Redis and RabbitMQ answer at their configured URLs (exit 1 if any not)."""

from __future__ import annotations

import asyncio
import sys

import aio_pika
import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from mss_settings import PlatformSettings


async def _postgres(settings: PlatformSettings) -> None:
    url = make_url(settings.database_url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=3)
    await conn.close()


async def _redis(settings: PlatformSettings) -> None:
    client: Redis = Redis.from_url(settings.redis_url, socket_connect_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _rabbitmq(settings: PlatformSettings) -> None:
    conn = await aio_pika.connect(settings.rabbitmq_url, timeout=3)
    await conn.close()


async def main() -> int:
    settings = PlatformSettings()
    missing = []
    for name, probe in (("postgres", _postgres), ("redis", _redis), ("rabbitmq", _rabbitmq)):
        try:
            await probe(settings)
        except Exception:
            missing.append(name)
    print(" ".join(missing))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
