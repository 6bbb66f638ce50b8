"""Dashboard at scale: the 1M-alert seed, p50/p99 for the largest org and an analyst's scope.

`scripts/bench dashboard [--alerts 1000000] [--orgs 1000] [--rate 50] [--seconds 30]
[--keep | --reuse]`

Seeds the alerts of `scripts/bench alerts-list` (the same statement: Zipf-sized
organizations, the largest ~6 % of the alerts; the alerts' triggers fill the rollups as
they would for ingest), then, open loop at `--rate` requests per second for `--seconds`,
asks the security API for `GET /api/dashboard` as: a provider analyst without `orgId`
(every organization summed), the analyst with `orgId` = the largest organization, and the
largest organization's customer admin. A control, `GET /live` at the same rate, shows what
the HTTP path alone costs. Prints p50/p95/p99 per caller and the load average. The seeded
alerts are deleted afterwards unless `--keep`. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_alerts_list import (
    DATABASE_URL,
    REDIS_URL,
    SEED,
    SERVICE_URL,
    mint,
    zipf_sizes,
)


async def seeded(conn: asyncpg.Connection, args: argparse.Namespace) -> tuple[list[object], bool]:
    """The seeded organizations, largest first, and whether this run seeded them."""
    if args.reuse:
        rows = await conn.fetch(
            "SELECT org_id, count(*) AS n FROM security.alerts WHERE source_ref LIKE 'R%-%' "
            "GROUP BY org_id ORDER BY n DESC"
        )
        print(f"reusing {sum(r['n'] for r in rows):,} alerts over {len(rows):,} organizations")
        return [r["org_id"] for r in rows], False
    orgs = [uuid.uuid4() for _ in range(args.orgs)]
    sizes = zipf_sizes(args.alerts, args.orgs)
    started = time.perf_counter()
    await conn.execute(SEED, orgs, sizes)
    await conn.execute("VACUUM ANALYZE security.alerts")
    await conn.execute("ANALYZE security.dashboard_alert_counts")
    print(
        f"seeded {args.alerts:,} alerts over {args.orgs:,} organizations in "
        f"{time.perf_counter() - started:.1f} s, rollups included (largest {sizes[0]:,})"
    )
    return list(orgs), True


async def run(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    orgs, mine = await seeded(conn, args)
    try:
        sessions = redis.Redis.from_url(REDIS_URL)
        analyst = mint(sessions)
        customer = mint(sessions, org=str(orgs[0]), orgType="customer", role="admin")
        callers = {
            "analyst-scope": ("/api/dashboard", {}, analyst),
            "analyst-largest": ("/api/dashboard", {"orgId": str(orgs[0])}, analyst),
            "customer-largest": ("/api/dashboard", {}, customer),
            "control-live": ("/live", {}, analyst),
        }
        await load(callers, args)
    finally:
        if mine and not args.keep:
            await conn.execute("DELETE FROM security.alerts WHERE org_id = ANY($1::uuid[])", orgs)
        await conn.close()


async def load(
    callers: dict[str, tuple[str, dict[str, str], str]], args: argparse.Namespace
) -> None:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[int | str, int] = defaultdict(int)
    rng = random.Random(11)  # noqa: S311 (a reproducible mix, not a secret)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=SERVICE_URL, timeout=10, limits=limits) as http:
        in_flight = asyncio.Semaphore(32)

        async def one(name: str) -> None:
            path, params, token = callers[name]
            t0 = time.perf_counter()
            try:
                async with in_flight:
                    response = await http.get(
                        path, params=params, headers={"Authorization": f"Bearer {token}"}
                    )
            except httpx.TimeoutException:
                statuses["timeout"] += 1
                latencies[name].append((time.perf_counter() - t0) * 1000)
                return
            statuses[response.status_code] += 1
            if response.status_code == 200:
                latencies[name].append((time.perf_counter() - t0) * 1000)

        # Warm the connection pool and the plans before measuring.
        await asyncio.gather(*(one(name) for name in callers for _ in range(3)))
        latencies.clear()
        statuses.clear()
        tasks = []
        interval = 1 / args.rate
        deadline = time.perf_counter() + args.seconds
        next_at = time.perf_counter()
        while next_at < deadline:
            tasks.append(asyncio.create_task(one(rng.choice(list(callers)))))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)
    print(
        f"{len(tasks):,} requests at {args.rate}/s for {args.seconds} s: statuses "
        f"{dict(statuses)}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'caller':18} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in sorted(latencies.items()):
        values.sort()
        print(
            f"{name:18} {len(values):6} {statistics.median(values):8.1f} "
            f"{_pct(values, 0.95):8.1f} {_pct(values, 0.99):8.1f}"
        )


def _pct(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="leave the seeded alerts")
    parser.add_argument("--reuse", action="store_true", help="the alerts a --keep run left")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
