"""Threat-intelligence import end to end: generated STIX 2.1 bundles through the gateway.

`scripts/bench intel-import [--indicators 100000] [--per-bundle 25000] [--probe-rate 20]
[--control-seconds 5]`

Generates `--indicators` STIX indicators (70 % IPv4 addresses, 10 % networks by ISSUBSET,
20 % domains, every value new), split into bundles of `--per-bundle` objects (the API's
body cap is 10 MB), posts them to `POST /api/threat-intel/imports` as a minted security
analyst and follows each job until it completes. Meanwhile a prober reads
`GET /api/threat-intel/indicators?limit=1` at `--probe-rate` requests/s; the same probe
runs for `--control-seconds` before the import as the control. Prints indicators/s
(from the first post to the last job completed), each job's counts, the probe's p50/p99
with and without the import, and the load average. The generated indicators are deleted
at the end. Environment: MSS_PORT_OFFSET, MSS_RUN_DIR, MSS_REDIS_URL, MSS_DATABASE_URL.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx
import redis
from bench_alerts_list import DATABASE_URL, GATEWAY_URL, REDIS_URL, mint

IMPORTS = "/api/threat-intel/imports"
PROBE = "/api/threat-intel/indicators"


def _pattern(n: int, run: int) -> str:
    kind = n % 10
    if kind < 7:
        return f"[ipv4-addr:value = '11.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}']"
    if kind == 7:
        c = n // 10
        return f"[ipv4-addr:value ISSUBSET '12.{(c >> 8) & 255}.{c & 255}.0/24']"
    return f"[domain-name:value = 'imp-{run}-{n}.example']"


def bundle(first: int, count: int, marker: str, run: int) -> bytes:
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "name": marker,
            "pattern": _pattern(n, run),
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "confidence": 70,
            "labels": ["bench"],
        }
        for n in range(first, first + count)
    ]
    body = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    return json.dumps(body, separators=(",", ":")).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def probe(
    http: httpx.AsyncClient, headers: dict[str, str], rate: float, stop: Any
) -> list[float]:
    latencies: list[float] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        response = await http.get(PROBE, params={"limit": 1}, headers=headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t0)))
    return latencies


async def run(args: argparse.Namespace) -> None:
    sessions = redis.Redis.from_url(REDIS_URL)
    headers = {"Authorization": f"Bearer {mint(sessions, role='security_analyst')}"}
    marker = f"bench-import-{uuid.uuid4().hex[:8]}"
    run_id = int(time.time())
    bodies = [
        bundle(first, min(args.per_bundle, args.indicators - first), marker, run_id)
        for first in range(0, args.indicators, args.per_bundle)
    ]
    print(
        f"{args.indicators:,} indicators in {len(bodies)} bundles "
        f"({max(len(b) for b in bodies) / 1e6:.1f} MB at most)"
    )
    async with httpx.AsyncClient(base_url=GATEWAY_URL, timeout=60) as http:
        stop = asyncio.Event()
        control_task = asyncio.create_task(probe(http, headers, args.probe_rate, stop))
        await asyncio.sleep(args.control_seconds)
        stop.set()
        control = await control_task

        stop = asyncio.Event()
        loaded_task = asyncio.create_task(probe(http, headers, args.probe_rate, stop))
        started = time.perf_counter()
        jobs = []
        for body in bodies:
            response = await http.post(
                IMPORTS,
                content=body,
                headers={**headers, "Content-Type": "application/stix+json"},
            )
            response.raise_for_status()
            jobs.append(response.json()["data"]["id"])
        finished: list[dict[str, Any]] = []
        for job_id in jobs:
            while True:
                job = (await http.get(f"{IMPORTS}/{job_id}", headers=headers)).json()["data"]
                if job["status"] in ("completed", "failed"):
                    finished.append(job)
                    break
                await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - started
        stop.set()
        loaded = await loaded_task
    written = sum(j["created"] + j["updated"] for j in finished)
    for job in finished:
        print(
            f"  job {job['id']}: {job['status']}, total {job['total']}, created "
            f"{job['created']}, updated {job['updated']}, rejected {job['rejected']}, "
            f"skipped {job['skipped']}"
        )
    print(
        f"imported {written:,} indicators in {elapsed:.1f} s: {written / elapsed:,.0f} indicators/s"
    )
    print(
        f"API probe {PROBE}: control p50 {statistics.median(control):.1f} ms, p99 "
        f"{percentile(control, 0.99):.1f} ms ({len(control)} requests); during the import "
        f"p50 {statistics.median(loaded):.1f} ms, p99 {percentile(loaded, 0.99):.1f} ms "
        f"({len(loaded)} requests); load {os.getloadavg()[0]:.2f}"
    )
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute("DELETE FROM security.global_indicators WHERE description = $1", marker)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--per-bundle", type=int, default=25_000)
    parser.add_argument("--probe-rate", type=float, default=20.0)
    parser.add_argument("--control-seconds", type=float, default=5.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
