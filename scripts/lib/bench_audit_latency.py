"""Commit-to-audit latency of organization.created, and creation throughput via the gateway.

`scripts/bench audit-latency [N=1000] [--concurrency 8] [--wait-timeout 300]`

Logs in once through the gateway (login is rate-limited per IP), creates N customer
organizations through the gateway with a few concurrent requests, waits until the audit
service has stored every organization.created event, then reads from PostgreSQL (read-only,
as the superuser) `audit.events.received_at - occurred_at` for those aggregates: the time
from the committing transaction (where the event and its timestamp are written to the
outbox) to the audit store. Prints figures; never asserts, never fails on slowness.

Environment: MSS_GATEWAY_URL (default http://127.0.0.1:8080), MSS_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/mss), MSS_E2E_ADMIN_EMAIL / MSS_E2E_ADMIN_PASSWORD
(falling back to MSS_BOOTSTRAP_ADMIN_* and the bootstrap password under MSS_RUN_DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/mss"
LOGIN_DEADLINE_S = 30.0
MAX_TRANSPORT_RETRIES = 3
POLL_INTERVAL_S = 0.1


@dataclass
class Creation:
    """What the creating clients saw."""

    ids: list[str] = field(default_factory=list)
    request_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    transport_retries: int = 0
    started: float = 0.0
    finished: float = 0.0

    def fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (pct in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "no samples"
    return (
        f"p50 {percentile(ordered, 50):8.1f}   p90 {percentile(ordered, 90):8.1f}   "
        f"p99 {percentile(ordered, 99):8.1f}   max {ordered[-1]:8.1f}   "
        f"(min {ordered[0]:.1f}, mean {sum(ordered) / len(ordered):.1f})"
    )


def credentials() -> dict[str, str] | None:
    email = (
        os.environ.get("MSS_E2E_ADMIN_EMAIL")
        or os.environ.get("MSS_BOOTSTRAP_ADMIN_EMAIL")
        or "admin@mss.local"
    )
    password = os.environ.get("MSS_E2E_ADMIN_PASSWORD") or os.environ.get(
        "MSS_BOOTSTRAP_ADMIN_PASSWORD"
    )
    if not password:
        run_dir = Path(os.environ.get("MSS_RUN_DIR") or ROOT / ".run")
        secret = run_dir / "secrets" / "bootstrap-admin-password"
        if secret.is_file():
            password = secret.read_text().strip()
    if not password:
        return None
    return {"email": email, "password": password}


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.05, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


async def login(client: httpx.AsyncClient, creds: dict[str, str]) -> str | None:
    """The one login of the run (waits out the gateway's per-IP login limit if needed)."""
    deadline = time.monotonic() + LOGIN_DEADLINE_S
    while True:
        response = await client.post("/api/auth/login", json=creds)
        if response.status_code == 429 and time.monotonic() < deadline:
            await asyncio.sleep(retry_after(response))
            continue
        if response.status_code != 200:
            print(f"login failed: HTTP {response.status_code} {response.text[:300]}")
            return None
        data = response.json().get("data") or {}
        token = data.get("accessToken")
        if not token:
            print(f"login did not return a token (MFA required?): {response.text[:300]}")
        return token if isinstance(token, str) else None


async def create_all(client: httpx.AsyncClient, n: int, concurrency: int) -> Creation:
    result = Creation()
    run = uuid.uuid4().hex[:8]
    next_index = iter(range(n))

    async def create_one(index: int) -> None:
        body = {"name": f"bench-{run}-{index:06d}"}
        transport_failures = 0
        while True:
            t0 = time.perf_counter()
            try:
                response = await client.post("/api/organizations", json=body)
            except httpx.HTTPError as exc:
                transport_failures += 1
                if transport_failures > MAX_TRANSPORT_RETRIES:
                    result.fail(type(exc).__name__)
                    return
                result.transport_retries += 1
                continue
            if response.status_code == 429:
                result.rate_limited += 1
                await asyncio.sleep(retry_after(response))
                continue
            result.request_ms.append((time.perf_counter() - t0) * 1000.0)
            if response.status_code == 201:
                result.ids.append(response.json()["data"]["id"])
            else:
                code = ""
                if response.headers.get("content-type", "").startswith("application/json"):
                    code = f" {response.json().get('code', '')}"
                result.fail(f"HTTP {response.status_code}{code}")
            return

    async def worker() -> None:
        for index in next_index:
            await create_one(index)

    result.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.finished = time.perf_counter()
    return result


async def wait_for_audit(
    conn: asyncpg.Connection, ids: list[uuid.UUID], timeout_s: float
) -> tuple[int, float]:
    """Polls the audit store until every aggregate has its event; (count, seconds waited)."""
    t0 = time.perf_counter()
    deadline = t0 + timeout_s
    while True:
        found: int = await conn.fetchval(
            "SELECT count(DISTINCT aggregate_id) FROM audit.events "
            "WHERE type = 'organization.created' AND aggregate_id = ANY($1::uuid[])",
            ids,
        )
        now = time.perf_counter()
        if found >= len(ids) or now >= deadline:
            return found, now - t0
        await asyncio.sleep(POLL_INTERVAL_S)


async def latencies_ms(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> list[float]:
    rows = await conn.fetch(
        "SELECT EXTRACT(EPOCH FROM (received_at - occurred_at)) * 1000.0 AS ms "
        "FROM audit.events WHERE type = 'organization.created' AND aggregate_id = ANY($1::uuid[])",
        ids,
    )
    return [float(row["ms"]) for row in rows]


def database_url(raw: str) -> str:
    return raw.replace("postgresql+asyncpg://", "postgresql://", 1)


async def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    creds = credentials()
    if creds is None:
        print("no admin password: set MSS_E2E_ADMIN_PASSWORD, or run scripts/up first")
        return 2
    print(
        f"audit-latency: {args.n} organizations through {args.gateway} "
        f"(concurrency {args.concurrency})"
    )
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=args.gateway, timeout=30.0, limits=limits) as client:
        token = await login(client, creds)
        if token is None:
            return 1
        client.headers["Authorization"] = f"Bearer {token}"
        creation = await create_all(client, args.n, args.concurrency)

    created = len(creation.ids)
    creation_s = creation.finished - creation.started
    print(
        f"  created          {created} ok, {sum(creation.failures.values())} failed, "
        f"{creation.rate_limited} rate-limited (429) retries, "
        f"{creation.transport_retries} transport retries"
    )
    for reason, count in sorted(creation.failures.items()):
        print(f"    failed: {reason} x{count}")
    rate = created / creation_s if creation_s > 0 else math.nan
    print(f"  creation         {creation_s:.2f} s wall, {rate:.1f} req/s (201s per second)")
    print(f"  request (ms)     {summary(creation.request_ms)}")
    if creation.rate_limited:
        print(
            "  note             the gateway's per-user limit (MSS_RATE_PER_USER, default "
            "50 r/s, burst 100) throttled this run (each 429 waits its Retry-After): the "
            "req/s above reflects that limit, not the services' capacity"
        )
    if not creation.ids:
        print("  nothing created: no latency to measure")
        return 1

    ids = [uuid.UUID(value) for value in creation.ids]
    conn = await asyncpg.connect(database_url(args.database_url))
    try:
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        found, waited = await wait_for_audit(conn, ids, args.wait_timeout)
        complete = "all" if found == created else f"only {found} of"
        print(
            f"  audit store      {complete} {created} events stored "
            f"{waited:.2f} s after the last creation answered"
        )
        values = await latencies_ms(conn, ids)
    finally:
        await conn.close()

    print(f"  commit->audit    received_at - occurred_at over {len(values)} events (ms):")
    print(f"                   {summary(values)}")
    print(f"  total wall time  {time.perf_counter() - started:.2f} s")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench audit-latency",
        description="Commit-to-audit latency of organization.created through the gateway.",
    )
    parser.add_argument("n", nargs="?", type=int, default=1000, help="organizations (1000)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    parser.add_argument(
        "--wait-timeout", type=float, default=300.0, help="seconds to wait for the audit (300)"
    )
    parser.add_argument(
        "--gateway", default=os.environ.get("MSS_GATEWAY_URL", DEFAULT_GATEWAY).rstrip("/")
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MSS_BENCH_DATABASE_URL")
        or os.environ.get("MSS_DATABASE_URL")
        or DEFAULT_DATABASE,
        help="PostgreSQL URL able to read audit.events (superuser: RLS does not apply)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.concurrency < 1:
        parser.error("N and --concurrency must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
