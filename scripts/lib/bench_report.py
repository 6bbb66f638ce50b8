"""A monthly report of the largest organization: metrics and PDF seconds, size, API latency.

`scripts/bench report [--rate 20] [--renders 3]`

Needs seeded alerts (`scripts/bench dashboard --keep` or `scripts/bench alerts-list
--keep`): the largest seeded organization is entered in the security service's
organization directory as a customer, then through the security API an analyst drafts a
report over the last 30 days (the metrics query), another approves it, and the author
publishes it (the PDF render, out of process) — `--renders` times, each on a new report.
Meanwhile `GET /api/dashboard?orgId=<largest>` runs open loop at `--rate` per second: its
latency while nothing renders (the control, measured first) and while a PDF renders are
printed side by side. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_alerts_list import DATABASE_URL, REDIS_URL, SERVICE_URL, mint


async def largest(conn: asyncpg.Connection) -> uuid.UUID:
    org = await conn.fetchval(
        "SELECT org_id FROM security.dashboard_alert_counts GROUP BY org_id "
        "ORDER BY sum(alerts) DESC LIMIT 1"
    )
    if org is None:
        sys.exit("no seeded alerts: run `scripts/bench dashboard --keep` first")
    await conn.execute(
        "INSERT INTO security.org_directory (org_id, name, type, status, "
        "alert_quota_per_minute, version) VALUES ($1, 'Bench Largest Customer', 'customer', "
        "'active', 6000, 1) ON CONFLICT (org_id) DO NOTHING",
        org,
    )
    return uuid.UUID(str(org))


class Probe:
    """Open-loop dashboard reads, their latencies tagged by what else was going on."""

    def __init__(self, http: httpx.AsyncClient, org: uuid.UUID, token: str, rate: float) -> None:
        self.http, self.org, self.token, self.rate = http, org, token, rate
        self.phase = "idle"
        self.latencies: dict[str, list[float]] = {"idle": [], "rendering": []}
        self._stop = asyncio.Event()

    async def _one(self) -> None:
        phase = self.phase
        t0 = time.perf_counter()
        response = await self.http.get(
            "/api/dashboard",
            params={"orgId": str(self.org)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if response.status_code == 200:
            self.latencies[phase].append((time.perf_counter() - t0) * 1000)

    async def run(self) -> None:
        tasks = []
        next_at = time.perf_counter()
        while not self._stop.is_set():
            tasks.append(asyncio.create_task(self._one()))
            next_at += 1 / self.rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)

    def stop(self) -> None:
        self._stop.set()


async def run(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    org = await largest(conn)
    alerts = await conn.fetchval(
        "SELECT count(*) FROM security.alerts WHERE org_id = $1 AND last_seen_at >= $2",
        org,
        datetime.now(UTC) - timedelta(days=30),
    )
    sessions = redis.Redis.from_url(REDIS_URL)
    author, reviewer = mint(sessions), mint(sessions)
    today = datetime.now(UTC).date()
    body = {
        "organizationId": str(org),
        "title": "Monthly security report (bench)",
        "type": "monthly",
        "reportPeriodStart": (today - timedelta(days=29)).isoformat(),
        "reportPeriodEnd": today.isoformat(),
        "summary": "Benchmark report.\n\nSecond paragraph.",
        "findings": [
            {
                "title": f"Finding {i}",
                "severity": "high",
                "description": "Observed repeatedly. " * 20,
                "recommendation": "Fix it. " * 10,
            }
            for i in range(10)
        ],
    }

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=SERVICE_URL, timeout=120) as http:
        probe = Probe(http, org, reviewer, args.rate)
        probing = asyncio.create_task(probe.run())
        await asyncio.sleep(5)  # the control: dashboard latency with nothing rendering
        figures = []
        for _ in range(args.renders):
            t0 = time.perf_counter()
            created = await http.post("/api/reports", json=body, headers=auth(author))
            created.raise_for_status()
            drafted = time.perf_counter() - t0
            rid = created.json()["data"]["id"]
            (await http.post(f"/api/reports/{rid}/submit", headers=auth(author))).raise_for_status()
            (
                await http.post(f"/api/reports/{rid}/approve", headers=auth(reviewer))
            ).raise_for_status()
            probe.phase = "rendering"
            t0 = time.perf_counter()
            published = await http.post(f"/api/reports/{rid}/publish", headers=auth(author))
            rendered = time.perf_counter() - t0
            probe.phase = "idle"
            published.raise_for_status()
            pdf = await http.get(f"/api/reports/{rid}/download", headers=auth(author))
            figures.append((drafted, rendered, len(pdf.content)))
            await asyncio.sleep(2)
        probe.stop()
        await probing
    await conn.close()
    print(f"largest organization {org}: {alerts:,} alerts in the 30-day period")
    print(f"{'run':>4} {'draft+metrics s':>16} {'publish (render) s':>19} {'PDF KiB':>9}")
    for i, (drafted, rendered, size) in enumerate(figures, 1):
        print(f"{i:4} {drafted:16.2f} {rendered:19.2f} {size / 1024:9.1f}")
    print("dashboard latency meanwhile (ms):")
    for phase, values in probe.latencies.items():
        if values:
            values.sort()
            p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
            p50 = statistics.median(values)
            print(f"  {phase:10} n={len(values):5} p50 {p50:7.1f} p99 {p99:7.1f}")
    print(f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--renders", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
