"""SLA breach-event lag at 10,000 open interventions, and a customer's list latency.

`scripts/bench sla [N=10000] [--spread 120] [--lead 20] [--wait-timeout 300] [--lists 200]`

Logs in once through the gateway, creates one customer organization through the API, then
seeds N open interventions of it straight into PostgreSQL (as the superuser: the API would
take minutes to create them on two cores, and the clock is what is measured) with response
deadlines spread evenly over `--spread` seconds, starting `--lead` seconds from now. The
running intervention worker announces each passed deadline; the bench waits until the audit
service has stored N `intervention.sla.breached` events for them, and reports the lag from
each deadline to its event (the event's `occurred_at`, written in the worker's transaction)
and to the audit store. It then lists the organization's interventions through the gateway
(`--lists` requests of page 1 and of a deep page) and reports their latency. Prints figures;
never asserts, never fails on slowness (goals: lag p99 <= 30 s, exactly N events; list p99
<= 50 ms).

Environment: MSS_GATEWAY_URL, MSS_DATABASE_URL, MSS_E2E_ADMIN_EMAIL / MSS_E2E_ADMIN_PASSWORD
(falling back to the bootstrap password under MSS_RUN_DIR), as `scripts/bench audit-latency`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_audit_latency import (
    DEFAULT_DATABASE,
    DEFAULT_GATEWAY,
    credentials,
    database_url,
    login,
    summary,
)

SEED_CHUNK = 2_000


async def seed(
    conn: asyncpg.Connection, org_id: uuid.UUID, n: int, first: datetime, spread_s: float
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    step = spread_s / max(1, n - 1)
    now = datetime.now(UTC)
    for start in range(0, n, SEED_CHUNK):
        chunk = ids[start : start + SEED_CHUNK]
        dues = [first + timedelta(seconds=(start + i) * step) for i in range(len(chunk))]
        await conn.execute(
            """
            INSERT INTO intervention.interventions
                (id, org_id, title, description, priority, type, status,
                 response_due_at, resolution_due_at, version, created_at, updated_at)
            SELECT id, $2, 'bench', 'sla bench', 'critical', 'other', 'requested',
                   due, due + interval '1 day', 1, $4, $4
            FROM unnest($1::uuid[], $3::timestamptz[]) AS t(id, due)
            """,
            chunk,
            org_id,
            dues,
            now,
        )
    return ids


async def wait_for_breaches(
    conn: asyncpg.Connection, ids: list[uuid.UUID], timeout_s: float
) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM audit.events WHERE type = 'intervention.sla.breached' "
            "AND aggregate_id = ANY($1::uuid[])",
            ids,
        )
        if found >= len(ids) or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(1.0)


async def lags(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> tuple[list[float], list[float], int]:
    rows = await conn.fetch(
        """
        SELECT EXTRACT(EPOCH FROM (e.occurred_at - i.response_due_at)) AS emitted,
               EXTRACT(EPOCH FROM (e.received_at - i.response_due_at)) AS stored
        FROM audit.events e JOIN intervention.interventions i ON i.id = e.aggregate_id
        WHERE e.type = 'intervention.sla.breached' AND e.aggregate_id = ANY($1::uuid[])
        """,
        ids,
    )
    duplicates: int = await conn.fetchval(
        "SELECT count(*) - count(DISTINCT aggregate_id) FROM audit.events "
        "WHERE type = 'intervention.sla.breached' AND aggregate_id = ANY($1::uuid[])",
        ids,
    )
    return [float(r["emitted"]) for r in rows], [float(r["stored"]) for r in rows], duplicates


async def list_latencies(client: httpx.AsyncClient, org_id: str, n: int, page: int) -> list[float]:
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = await client.get(
            "/api/interventions", params={"orgId": org_id, "limit": 20, "page": page}
        )
        timings.append((time.perf_counter() - t0) * 1000.0)
        if response.status_code != 200:
            print(f"list failed: HTTP {response.status_code} {response.text[:200]}")
            break
    return timings


async def main(args: argparse.Namespace) -> int:
    creds = credentials()
    if creds is None:
        print("no admin password: set MSS_E2E_ADMIN_PASSWORD, or run scripts/up first")
        return 2
    conn = await asyncpg.connect(database_url(args.database))
    try:
        async with httpx.AsyncClient(base_url=args.gateway, timeout=30.0) as http:
            token = await login(http, creds)
            if token is None:
                return 1
            http.headers["Authorization"] = f"Bearer {token}"
            created = await http.post(
                "/api/organizations", json={"name": f"bench-sla-{uuid.uuid4().hex[:8]}"}
            )
            if created.status_code != 201:
                print(f"organization not created: HTTP {created.status_code} {created.text[:200]}")
                return 1
            org_id = created.json()["data"]["id"]
            first = datetime.now(UTC) + timedelta(seconds=args.lead)
            t0 = time.perf_counter()
            ids = await seed(conn, uuid.UUID(org_id), args.n, first, args.spread)
            print(
                f"sla: seeded {len(ids)} interventions in {time.perf_counter() - t0:.1f} s; "
                f"deadlines from {first:%H:%M:%S} over {args.spread:.0f} s"
            )
            load = os.getloadavg()
            found = await wait_for_breaches(conn, ids, args.lead + args.spread + args.wait_timeout)
            emitted, stored, duplicates = await lags(conn, ids)
            # The clock's own record, for every seeded deadline: when its breach was
            # committed with the event (the audit store may still be catching up).
            rows = await conn.fetch(
                "SELECT EXTRACT(EPOCH FROM (response_breached_at - response_due_at)) AS lag "
                "FROM intervention.interventions WHERE id = ANY($1::uuid[]) "
                "AND response_breached_at IS NOT NULL",
                ids,
            )
            clock = [float(r["lag"]) for r in rows]
            print(f"breaches recorded by the clock: {len(clock)} of {len(ids)}")
            print(f"lag deadline -> breach recorded (s): {summary(clock)}")
            print(f"breach events stored: {found} of {len(ids)} (duplicates: {duplicates})")
            print(f"lag deadline -> event written (s):  {summary(emitted)}")
            print(f"lag deadline -> audit stored (s):   {summary(stored)}")
            page_one = await list_latencies(http, org_id, args.lists, 1)
            deep = await list_latencies(http, org_id, args.lists, max(1, args.n // 20 // 2))
            print(f"list page 1 of {args.n} via gateway (ms):   {summary(page_one)}")
            print(f"list deep page via gateway (ms):           {summary(deep)}")
            print(
                f"load average at start of the wait: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
                f"now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
    finally:
        await conn.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=120.0)
    parser.add_argument("--lead", type=float, default=20.0)
    parser.add_argument("--wait-timeout", type=float, default=300.0)
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--gateway", default=os.environ.get("MSS_GATEWAY_URL", DEFAULT_GATEWAY))
    parser.add_argument("--database", default=os.environ.get("MSS_DATABASE_URL", DEFAULT_DATABASE))
    sys.exit(asyncio.run(main(parser.parse_args())))
