"""Login p50/p99 and logins/s at saturation, and a cheap endpoint's latency during the flood."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _password() -> str:
    env = os.environ.get("MSS_BOOTSTRAP_ADMIN_PASSWORD")
    if env:
        return env
    run_dir = Path(os.environ.get("MSS_RUN_DIR", str(ROOT / ".run")))
    return (run_dir / "secrets" / "bootstrap-admin-password").read_text().strip()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main(args: argparse.Namespace) -> int:
    body = {
        "email": os.environ.get("MSS_BOOTSTRAP_ADMIN_EMAIL", "admin@mss.local"),
        "password": _password(),
    }
    logins: list[float] = []
    probes: list[float] = []
    failures = 0
    deadline = time.monotonic() + args.seconds
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=args.url, timeout=30, limits=limits) as client:

        async def flood() -> None:
            nonlocal failures
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.post("/api/auth/login", json=body)
                if response.status_code == 200:
                    logins.append(time.perf_counter() - started)
                else:
                    failures += 1

        async def probe() -> None:
            # A cheap endpoint of the same process: its latency shows the event loop's health.
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await client.get("/.well-known/jwks.json")
                probes.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)

        baseline: list[float] = []
        for _ in range(20):
            started = time.perf_counter()
            await client.get("/.well-known/jwks.json")
            baseline.append(time.perf_counter() - started)
        wall = time.perf_counter()
        await asyncio.gather(probe(), *(flood() for _ in range(args.concurrency)))
        wall = time.perf_counter() - wall

    ms = 1000.0
    print(f"login bench: {args.url}, {args.concurrency} concurrent logins for {args.seconds:.0f} s")
    print(
        f"  logins          {len(logins)} ok, {failures} failed, {len(logins) / wall:.1f} logins/s"
    )
    print(
        f"  login (ms)      p50 {_pct(logins, 0.5) * ms:7.1f}   p99 {_pct(logins, 0.99) * ms:7.1f}"
        f"   mean {statistics.fmean(logins) * ms:7.1f}"
    )
    print(
        f"  jwks idle (ms)  p50 {_pct(baseline, 0.5) * ms:7.1f}"
        f"   p99 {_pct(baseline, 0.99) * ms:7.1f}"
    )
    print(
        f"  jwks in flood   p50 {_pct(probes, 0.5) * ms:7.1f}   p99 {_pct(probes, 0.99) * ms:7.1f}"
        f"   ({len(probes)} probes)"
    )
    print(
        "  note            argon2id m=19 MiB t=2 p=1 in a pool of MSS_PASSWORD_HASH_WORKERS threads"
    )
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench login", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8101", help="identity, direct")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
