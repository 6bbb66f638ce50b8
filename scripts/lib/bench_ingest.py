"""Alert ingest through the gateway: batches of 1,000 from several organizations' SIEMs.

`scripts/bench ingest [--orgs 5] [--seconds 60] [--batch 1000] [--duplicates 0.3]
[--concurrency 8] [--indicators N]`

Creates `--orgs` customer organizations through the gateway (as a minted super admin) with
`alertQuotaPerMinute` raised to the maximum, mints for each an integration token holding
only `alerts:create` on it (as `POST /api/auth/token` issues for an API key), then posts
batches of `--batch` alerts (`--duplicates` of them repeating an alert already sent, so
dedup works for real) from `--concurrency` senders for `--seconds`. Prints alerts/s
sustained, batch latency p50/p95/p99, the statuses, and how long after the last batch the
security outbox and the audit service's queue took to drain (events relayed and
recorded). RLS is on as always. Environment: MSS_PORT_OFFSET, MSS_RUN_DIR, MSS_REDIS_URL,
MSS_DATABASE_URL, MSS_RABBITMQ_URL, MSS_BUS_NAMESPACE. Figures are printed, never asserted.

With `--indicators N`, half the alerts also carry an observable that a threat-intelligence
indicator matches (a domain by value, or an address inside a network): the run is made
once without indicators (the control), then with N provider-wide indicators (10 % CIDRs)
written straight into the database, and the ratio of the two rates is printed. The
seeded indicators are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

import aio_pika
import asyncpg
import httpx
import redis
from bench_alerts_list import DATABASE_URL, GATEWAY_URL, REDIS_URL, mint

OFFSET = int(os.environ.get("MSS_PORT_OFFSET", "0"))
RABBITMQ_URL = os.environ.get("MSS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
NAMESPACE = os.environ.get("MSS_BUS_NAMESPACE", f"p{OFFSET}." if OFFSET else "")
TITLES = [
    "Suspicious PowerShell download cradle",
    "Brute force on VPN gateway",
    "Outbound traffic to known C2",
    "Impossible travel sign-in",
    "Ransomware canary file modified",
]


# Indicators seeded by --indicators: domains by value, and /24 networks of 100.64.0.0/10.
SEED_SOURCE = "bench-ingest"


def _matching(n: int) -> dict[str, str]:
    """Half the alerts: an observable some seeded indicator matches (a quarter each way)."""
    k = n // 4
    if n % 4 == 0:
        return {"type": "domain", "value": f"bench-ind-{k % 50_000}.example"}
    net = k % 10_000
    return {"type": "ipv4", "value": f"100.{64 + net // 256}.{net % 256}.7"}


def alert(n: int) -> dict[str, Any]:
    observables = [{"type": "ipv4", "value": f"10.0.{n % 250}.{n % 199}"}]
    if n % 2 == 0:
        observables.append(_matching(n))
    return {
        "title": TITLES[n % len(TITLES)],
        "description": f"bench alert {n}",
        "severity": ["low", "medium", "high", "critical"][n % 4],
        "category": "malware",
        "source": "bench-siem",
        "sourceRef": f"ref-{n}",
        "affectedAssets": [f"host-{n % 997}"],
        "observables": observables,
    }


async def seed_indicators(count: int) -> None:
    """`count` provider-wide indicators, 10 % of them networks (as the superuser)."""
    networks = count // 10
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(
            """
            INSERT INTO security.global_indicators (id, type, value, net, confidence, tlp,
                source)
            SELECT gen_random_uuid(), 'cidr', v, CAST(v AS inet), 60, 'amber', $2
            FROM (SELECT '100.' || 64 + g / 256 || '.' || g % 256 || '.0/24' AS v
                  FROM generate_series(0, $1 - 1) g) s
            ON CONFLICT DO NOTHING
            """,
            min(networks, 16_384),
            SEED_SOURCE,
        )
        await conn.execute(
            """
            INSERT INTO security.global_indicators (id, type, value, confidence, tlp, source)
            SELECT gen_random_uuid(), 'domain', 'bench-ind-' || g || '.example', 60, 'amber', $2
            FROM generate_series(0, $1 - 1) g
            ON CONFLICT DO NOTHING
            """,
            count - networks,
            SEED_SOURCE,
        )
        await conn.execute("ANALYZE security.global_indicators")
    finally:
        await conn.close()


async def drop_indicators() -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute("DELETE FROM security.global_indicators WHERE source = $1", SEED_SOURCE)
    finally:
        await conn.close()


async def organizations(http: httpx.AsyncClient, admin: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {admin}"}
    ids = []
    for _ in range(count):
        created = await http.post(
            "/api/organizations", json={"name": f"bench-{uuid.uuid4().hex[:8]}"}, headers=headers
        )
        created.raise_for_status()
        org_id = created.json()["data"]["id"]
        settings = await http.put(
            f"/api/organizations/{org_id}/settings",
            json={"alertQuotaPerMinute": 1_000_000},
            headers=headers,
        )
        settings.raise_for_status()
        ids.append(org_id)
    return ids


async def backlog() -> tuple[int, int]:
    """Events not yet relayed (security outbox) and not yet recorded (audit's queue)."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        outbox = int(await conn.fetchval("SELECT count(*) FROM security.outbox"))
    finally:
        await conn.close()
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{NAMESPACE}audit.events", passive=True)
        queued = int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()
    return outbox, queued


async def run(args: argparse.Namespace) -> None:
    if not args.indicators:
        await measure(args)
        return
    print("control: no indicators")
    control = await measure(args)
    await seed_indicators(args.indicators)
    try:
        print(f"with {args.indicators:,} indicators (10 % CIDRs), half the alerts matching")
        loaded = await measure(args)
    finally:
        await drop_indicators()
    print(f"ratio with/without indicators: {loaded / control:.2f}x" if control else "no control")


async def measure(args: argparse.Namespace) -> float:
    """One timed run; its alerts/s."""
    sessions = redis.Redis.from_url(REDIS_URL)
    admin = mint(sessions, role="super_admin")
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=GATEWAY_URL, timeout=30, limits=limits) as http:
        orgs = await organizations(http, admin, args.orgs)
        # Each sender is its own integration (own token: the gateway limits per user).
        tokens = [
            mint(
                sessions,
                sub=str(uuid.uuid4()),
                org=orgs[i % len(orgs)],
                orgType="customer",
                role=None,
                perms=["alerts:create"],
            )
            for i in range(args.concurrency)
        ]
        latencies: list[float] = []
        statuses: dict[int, int] = defaultdict(int)
        sent = 0
        deadline = time.perf_counter() + args.seconds
        counter = iter(range(10**12))

        async def sender(token: str) -> None:
            nonlocal sent
            rng = random.Random(token)  # noqa: S311 (a reproducible mix, not a secret)
            seen: list[int] = []
            headers = {"Authorization": f"Bearer {token}"}
            while time.perf_counter() < deadline:
                items = []
                for _ in range(args.batch):
                    if seen and rng.random() < args.duplicates:
                        items.append(alert(rng.choice(seen)))
                    else:
                        n = next(counter)
                        seen.append(n)
                        items.append(alert(n))
                t0 = time.perf_counter()
                response = await http.post(
                    "/api/alerts/batch", json={"alerts": items}, headers=headers
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    sent += len(items)

        started = time.perf_counter()
        await asyncio.gather(*(sender(t) for t in tokens))
        elapsed = time.perf_counter() - started
    ended = time.perf_counter()
    drained_after = None
    while time.perf_counter() - ended < 120:
        outbox, queued = await backlog()
        if outbox == 0 and queued == 0:
            drained_after = time.perf_counter() - ended
            break
        await asyncio.sleep(0.5)
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]  # noqa: E731
    print(
        f"{args.orgs} organizations, {args.concurrency} senders, batches of {args.batch}, "
        f"{args.duplicates:.0%} duplicates, {elapsed:.1f} s; statuses {dict(statuses)}"
    )
    print(f"stored {sent:,} alerts: {sent / elapsed:,.0f} alerts/s sustained")
    if latencies:
        print(
            f"batch latency p50 {statistics.median(latencies):.0f} ms, p95 {pct(0.95):.0f} ms, "
            f"p99 {pct(0.99):.0f} ms"
        )
    print(
        "outbox and audit queue drained "
        + (
            f"{drained_after:.1f} s after the run"
            if drained_after is not None
            else "NOT within 120 s"
        )
        + f"; load {os.getloadavg()[0]:.2f}"
    )
    return sent / elapsed if elapsed else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--indicators", type=int, default=0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
