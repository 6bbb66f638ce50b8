"""Alert lists at scale: 1M alerts over 1,000 organizations, mixed list queries, p50/p99.

`scripts/bench alerts-list [--alerts 1000000] [--orgs 1000] [--rate 100] [--seconds 30]
[--keep | --reuse] [--via service|gateway]`

Seeds `security.alerts` straight in the database (one INSERT … SELECT FROM generate_series
as the superuser, never through the API): organizations Zipf-sized (s = 0.8, so the
largest holds ~6 % of the alerts, 50–100k at 1M), alerts over the last 30 days with
realistic titles, categories, severities, statuses, assets and observables. Then, open
loop at `--rate` requests per second for `--seconds`, mixed list queries (default sort,
severity/status filters, -severity, firstSeenAt, `q`, the next page by cursor) as a provider
analyst (every organization) and as a customer admin of the largest organization, with
minted tokens (the dev signing key, live sessions in Redis). Prints p50/p95/p99 per query
kind and per caller. The seeded alerts are deleted afterwards unless `--keep`.

`--via service` (default) calls the security API directly, `--via gateway` through NGINX
(whose per-user and per-organization limits then answer part of the load with 429: the
figures count those apart). Environment: MSS_DATABASE_URL, MSS_REDIS_URL, MSS_RUN_DIR,
MSS_PORT_OFFSET. Figures are printed, never asserted.
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
from typing import Any

import asyncpg
import httpx
import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
OFFSET = int(os.environ.get("MSS_PORT_OFFSET", "0"))
RUN_DIR = Path(os.environ.get("MSS_RUN_DIR") or ROOT / (f".run_{OFFSET}" if OFFSET else ".run"))
DATABASE_URL = os.environ.get(
    "MSS_DATABASE_URL",
    f"postgresql://postgres@127.0.0.1:5432/{f'mss_{OFFSET}' if OFFSET else 'mss'}",
).replace("postgresql+asyncpg://", "postgresql://")
REDIS_URL = os.environ.get("MSS_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVICE_URL = f"http://127.0.0.1:{8103 + OFFSET}"
GATEWAY_URL = f"http://127.0.0.1:{8080 + OFFSET}"
SOURCE = "bench-seed"

SEED = """
INSERT INTO security.alerts (id, org_id, title, description, severity, status, category,
    source, source_ref, fingerprint, affected_assets, observables, search_text,
    occurrence_count, first_seen_at, last_seen_at, resolution, resolved_at)
SELECT gen_random_uuid(), o.org_id, t.title, t.title || ' on ' || a.asset,
    1 + (h % 4), CASE WHEN h % 10 < 6 THEN 2 WHEN h % 10 < 8 THEN 1 ELSE 0 END,
    t.category, (ARRAY['splunk', 'sentinel', 'crowdstrike', 'defender'])[1 + h % 4],
    'R' || o.ord || '-' || g, md5(o.ord || '-' || g), jsonb_build_array(a.asset),
    jsonb_build_array(jsonb_build_object('type', 'ipv4', 'value', a.ip)),
    lower(t.title || ' ' || t.title || ' on ' || a.asset || E'\n' || a.asset || E'\n' || a.ip),
    1 + h % 3, s.seen, s.seen,
    CASE WHEN h % 10 < 6 THEN 'false_positive' END, CASE WHEN h % 10 < 6 THEN s.seen END
FROM unnest(CAST($1 AS uuid[]), CAST($2 AS int[])) WITH ORDINALITY AS o(org_id, n, ord),
    generate_series(1, o.n) g,
    LATERAL (SELECT abs(hashtext(o.ord || ':' || g)) AS h) r,
    LATERAL (SELECT now() - (h % 2592000) * interval '1 second' AS seen) s,
    LATERAL (SELECT (ARRAY['Suspicious PowerShell download cradle', 'Brute force on VPN gateway',
        'Phishing link clicked', 'Ransomware canary file modified', 'Impossible travel sign-in',
        'Outbound traffic to known C2', 'Privilege escalation via scheduled task',
        'Large upload to personal cloud storage', 'Unpatched critical CVE exposed',
        'Admin login outside business hours'])[1 + h % 10] AS title,
        (ARRAY['malware', 'intrusion', 'phishing', 'malware', 'anomaly', 'intrusion',
        'intrusion', 'data_exfiltration', 'vulnerability', 'policy_violation'])[1 + h % 10]
        AS category) t,
    LATERAL (SELECT 'host-' || (h % 5000) AS asset,
        '10.' || (h % 250) || '.' || ((h / 250) % 250) || '.' || ((h / 62500) % 250) AS ip) a
"""


def zipf_sizes(total: int, orgs: int, s: float = 0.8) -> list[int]:
    weights = [1 / (rank**s) for rank in range(1, orgs + 1)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += total - sum(sizes)
    return sizes


def mint(sessions: redis.Redis, **claims: Any) -> str:
    files = sorted((RUN_DIR / "keys" / "signing").glob("*.pem"))
    if not files:
        sys.exit(f"no signing key under {RUN_DIR / 'keys' / 'signing'}: run scripts/up first")
    key = serialization.load_pem_private_key(files[-1].read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = int(time.time())
    body = {
        "iss": "mss-identity",
        "aud": "mss-platform",
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "orgType": "mss_provider",
        "role": "security_analyst",
        "amr": ["pwd"],
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    sessions.set(f"session:{body['sid']}", str(body["sub"]), ex=900)
    return jwt.encode(
        body, key, algorithm="ES256", headers={"kid": files[-1].stem, "typ": "at+jwt"}
    )


QUERIES: dict[str, dict[str, str]] = {
    "default": {},
    "open-high": {"status": "open,acknowledged", "severity": "high,critical"},
    "by-severity": {"sort": "-severity"},
    "oldest": {"sort": "firstSeenAt", "category": "intrusion"},
    "assigned-none": {"assignedTo": "none", "status": "open"},
    "q": {"q": "host-42"},
}


async def run(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    if args.reuse:
        # The alerts a previous `--keep` run seeded (its organizations, largest first).
        rows = await conn.fetch(
            "SELECT org_id, count(*) AS n FROM security.alerts WHERE source_ref LIKE 'R%-%' "
            "GROUP BY org_id ORDER BY n DESC"
        )
        orgs, sizes = [r["org_id"] for r in rows], [r["n"] for r in rows]
        print(
            f"reusing {sum(sizes):,} seeded alerts over {len(orgs):,} organizations "
            f"(largest {sizes[0]:,})"
        )
    else:
        orgs = [uuid.uuid4() for _ in range(args.orgs)]
        sizes = zipf_sizes(args.alerts, args.orgs)
    try:
        if not args.reuse:
            started = time.perf_counter()
            await conn.execute(SEED, orgs, sizes)
            # Vacuumed as autovacuum would leave a table at rest: counts may use index-only scans.
            await conn.execute("VACUUM ANALYZE security.alerts")
            print(
                f"seeded {args.alerts:,} alerts over {args.orgs:,} organizations in "
                f"{time.perf_counter() - started:.1f} s (largest {sizes[0]:,}, "
                f"smallest {sizes[-1]:,})"
            )
        sessions = redis.Redis.from_url(REDIS_URL)
        callers = {
            "analyst": mint(sessions),
            "customer": mint(sessions, org=str(orgs[0]), orgType="customer", role="admin"),
        }
        base = SERVICE_URL if args.via == "service" else GATEWAY_URL
        await load(base, callers, args)
    finally:
        if not args.keep and not args.reuse:
            await conn.execute("DELETE FROM security.alerts WHERE org_id = ANY($1::uuid[])", orgs)
        await conn.close()


async def load(base: str, callers: dict[str, str], args: argparse.Namespace) -> None:
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    statuses: dict[int | str, int] = defaultdict(int)
    cursors: dict[str, str] = {}
    rng = random.Random(7)  # noqa: S311 (a reproducible mix, not a secret)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as http:
        # At most as many requests in flight as the pool has connections: the rest wait here,
        # timed from when they were due (an open loop, queueing counted), and httpcore's
        # pool is never handed thousands of waiters (its scheduling is quadratic in them).
        in_flight = asyncio.Semaphore(64)

        async def one(caller: str, kind: str) -> None:
            params = dict(QUERIES.get(kind, {}))
            if kind == "next-page":
                if caller not in cursors:
                    return
                params["cursor"] = cursors[caller]
            headers = {"Authorization": f"Bearer {callers[caller]}"}
            t0 = time.perf_counter()
            try:
                async with in_flight:
                    response = await http.get("/api/alerts", params=params, headers=headers)
            except httpx.TimeoutException:
                # An answer later than the client waits is a latency too (open loop): it
                # counts at the timeout, so the percentiles cannot hide it.
                statuses["timeout"] += 1
                latencies[(caller, kind)].append((time.perf_counter() - t0) * 1000)
                return
            except httpx.TransportError as exc:
                # A kept-alive connection the server had closed, say: counted, not timed.
                statuses[type(exc).__name__] += 1
                return
            elapsed = (time.perf_counter() - t0) * 1000
            statuses[response.status_code] += 1
            if response.status_code == 200:
                latencies[(caller, kind)].append(elapsed)
                cursor = response.json()["meta"]["nextCursor"]
                if cursor and kind == "default":
                    cursors[caller] = cursor

        tasks = []
        kinds = [*QUERIES, "next-page"]
        interval = 1 / args.rate
        deadline = time.perf_counter() + args.seconds
        next_at = time.perf_counter()
        while next_at < deadline:
            tasks.append(asyncio.create_task(one(rng.choice(list(callers)), rng.choice(kinds))))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)
    print(
        f"{len(tasks):,} requests at {args.rate}/s for {args.seconds} s via {args.via}: "
        f"statuses {dict(statuses)}; load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'caller':10} {'query':14} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for (caller, kind), values in sorted(latencies.items()):
        values.sort()
        print(
            f"{caller:10} {kind:14} {len(values):6} {statistics.median(values):8.1f} "
            f"{_pct(values, 0.95):8.1f} {_pct(values, 0.99):8.1f}"
        )
    every = sorted(v for values in latencies.values() for v in values)
    if every:
        print(f"all: p50 {statistics.median(every):.1f} ms, p99 {_pct(every, 0.99):.1f} ms")


def _pct(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--via", choices=["service", "gateway"], default="service")
    parser.add_argument("--keep", action="store_true", help="leave the seeded alerts")
    parser.add_argument("--reuse", action="store_true", help="the alerts a --keep run left")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
