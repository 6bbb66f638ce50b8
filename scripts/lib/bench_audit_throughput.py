"""Audit worker throughput: N events published straight to the bus, timed into the audit store.

`scripts/bench audit-throughput [N=50000] [--orgs 50] [--wait-timeout 600]`

Against the running platform of this checkout (`scripts/up`, same MSS_PORT_OFFSET):
publishes N valid `auth.login.failed` envelopes (the envelope the services' relays
publish, with confirms) to the events exchange of the platform's bus namespace, spread
over `--orgs` fresh organizations (one hash chain each). Only the audit worker consumes
that type. Polls PostgreSQL (read-only superuser; RLS does not apply) until every event
has its audit log entry, then reports events/s from the first publish to the last entry,
and the drain rate after publishing ended. Then verifies every chain of the run through
the audit service's own verify endpoint (`GET /api/audit/verify?orgId=`, via the gateway,
as the bootstrap super admin) and prints `uptime`. Figures only; never asserts.

The machine's own publisher may be slower than the worker (a loaded box): then the
end-to-end figure is the publish rate. `--backlog` measures the worker alone: it stops
the audit worker that scripts/up started (its pid file), publishes the N events into its
queue, starts it again the way scripts/up does, and reports the rate at which the store
received them (`audit.events.received_at`, first to last). Both modes print the CPU time
the worker process and audit's PostgreSQL backends spent per event.

Environment: MSS_RABBITMQ_URL, MSS_BUS_NAMESPACE, MSS_DATABASE_URL, MSS_GATEWAY_URL (set by
scripts/bench from MSS_PORT_OFFSET), MSS_E2E_ADMIN_EMAIL / MSS_E2E_ADMIN_PASSWORD.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from bench_audit_latency import credentials, database_url, login

from mss_contracts.events import EventContext, LoginFailed, new_event

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/mss"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
# Publishes awaiting their confirm at once (the broker confirms in batches).
PUBLISH_WINDOW = 2000
POLL_INTERVAL_S = 0.05


def bodies(n: int, orgs: list[uuid.UUID]) -> list[tuple[str, bytes]]:
    """(message id, body) of N events, round-robin over the organizations' chains."""
    out = []
    for i in range(n):
        envelope = new_event(
            LoginFailed(email=f"bench-{i}@example.com", reason="invalid_credentials"),
            aggregate_id=uuid.uuid4(),
            organization_id=orgs[i % len(orgs)],
            version=1,
            context=EventContext(ip_address="198.51.100.7", user_agent="bench-audit-throughput"),
        )
        out.append((str(envelope.id), envelope.model_dump_json(by_alias=True).encode()))
    return out


async def publish_all(url: str, exchange_name: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish with confirms, PUBLISH_WINDOW in flight; returns when the last is confirmed."""
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for start in range(0, len(messages), PUBLISH_WINDOW):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=message_id,
                            type=LoginFailed.event_type,
                        ),
                        routing_key=LoginFailed.event_type,
                    )
                    for message_id, body in messages[start : start + PUBLISH_WINDOW]
                )
            )
        return time.perf_counter()
    finally:
        await connection.close()


async def count_stored(conn: asyncpg.Connection, orgs: list[uuid.UUID]) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM audit.audit_logs WHERE org_id = ANY($1::uuid[])", orgs
    )
    return found


async def wait_for_audit(
    conn: asyncpg.Connection, orgs: list[uuid.UUID], n: int, deadline: float
) -> tuple[int, float]:
    """Polls until the run's N entries are stored; (count, perf_counter when seen)."""
    while True:
        found = await count_stored(conn, orgs)
        now = time.perf_counter()
        if found >= n or now >= deadline:
            return found, now
        await asyncio.sleep(POLL_INTERVAL_S)


async def verify(gateway: str, orgs: list[uuid.UUID]) -> tuple[int, int, list[str]]:
    """(chains valid, entries checked, problems) from the audit service's verify endpoint."""
    creds = credentials()
    if creds is None:
        return 0, 0, ["no admin password: set MSS_E2E_ADMIN_PASSWORD, or run scripts/up first"]
    valid, checked, problems = 0, 0, []
    async with httpx.AsyncClient(base_url=gateway, timeout=120.0) as client:
        token = await login(client, creds)
        if token is None:
            return 0, 0, ["login failed"]
        client.headers["Authorization"] = f"Bearer {token}"
        for org in orgs:
            response = await client.get("/api/audit/verify", params={"orgId": str(org)})
            if response.status_code != 200:
                problems.append(f"{org}: HTTP {response.status_code} {response.text[:200]}")
                continue
            data = response.json()["data"]
            checked += int(data["checked"])
            if data["valid"]:
                valid += 1
            else:
                problems.append(f"{org}: chain broken at {data.get('firstBrokenId')}")
    return valid, checked, problems


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a local process (Linux /proc), None when not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_pids(conn: asyncpg.Connection) -> dict[str, list[int]]:
    """The audit worker's pid (from scripts/up's pid file) and audit's PostgreSQL backends."""
    pids: dict[str, list[int]] = {"worker": [], "postgres": []}
    pid_file = worker_pid_file()
    if pid_file.is_file():
        pids["worker"].append(int(pid_file.read_text().strip()))
    rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE usename = 'audit_app'")
    pids["postgres"] = [row["pid"] for row in rows]
    return pids


def cpu_used(pids: dict[str, list[int]]) -> dict[str, float]:
    return {
        name: sum(value for pid in group if (value := cpu_seconds(pid)) is not None)
        for name, group in pids.items()
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


ROOT = Path(__file__).resolve().parents[2]


def worker_pid_file() -> Path:
    return Path(os.environ.get("MSS_RUN_DIR", ROOT / ".run")) / "pids" / "audit-worker.pid"


def stop_worker() -> bool:
    """SIGTERM the audit worker scripts/up started; True once it has exited."""
    pid_file = worker_pid_file()
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.1)
    return False


def start_worker() -> None:
    """As scripts/up starts it: detached, logging to the run dir, its pid in the pid file."""
    run_dir = Path(os.environ.get("MSS_RUN_DIR", ROOT / ".run"))
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "lib" / "spawn.py"),
            str(run_dir / "logs" / "audit-worker.log"),
            str(worker_pid_file()),
            "--",
            sys.executable,
            "-m",
            "mss_audit",
            "worker",
        ],
        cwd=ROOT,
        check=True,
    )


async def store_rate(conn: asyncpg.Connection, orgs: list[uuid.UUID]) -> float | None:
    """Events/s as the store received them: count over first to last `received_at`."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, EXTRACT(EPOCH FROM max(received_at) - min(received_at)) AS s "
        "FROM audit.events WHERE org_id = ANY($1::uuid[])",
        orgs,
    )
    if row is None or not row["s"]:
        return None
    return float(row["n"]) / float(row["s"])


async def main(args: argparse.Namespace) -> int:
    namespace = os.environ.get("MSS_BUS_NAMESPACE", "")
    exchange = f"{namespace}mss.events"
    orgs = [uuid.uuid4() for _ in range(args.orgs)]
    print(f"audit-throughput: {args.n} events over {args.orgs} chains to exchange {exchange}")
    print(f"  load before      {uptime()}")
    messages = bodies(args.n, orgs)

    conn = await asyncpg.connect(database_url(args.database_url))
    try:
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        if args.backlog and not stop_worker():
            print("  --backlog: could not stop the audit worker (is scripts/up running?)")
            return 2
        pids = await cpu_pids(conn)
        cpu_before = cpu_used(pids)
        started = time.perf_counter()
        published_at = await publish_all(args.rabbitmq_url, exchange, messages)
        if args.backlog:
            print(f"  backlog          {args.n} events queued; starting the audit worker")
            start_worker()
            await wait_for_audit(conn, orgs, 1, deadline=published_at + args.wait_timeout)
            pids = await cpu_pids(conn)
            cpu_before = cpu_used(pids)
        found, done_at = await wait_for_audit(
            conn, orgs, args.n, deadline=published_at + args.wait_timeout
        )
        load = uptime()
        cpu_after = cpu_used(pids)
        received_rate = await store_rate(conn, orgs)
    finally:
        await conn.close()

    total_s = done_at - started
    publish_s = published_at - started
    print(f"  published        {args.n} in {publish_s:.2f} s ({args.n / publish_s:,.0f} ev/s)")
    if found < args.n:
        print(f"  audit store      only {found} of {args.n} after {args.wait_timeout:.0f} s")
    else:
        print(f"  audit store      all {args.n} stored {total_s:.2f} s after the first publish")
    if not args.backlog:
        print(f"  throughput       {found / total_s:,.0f} events/s (first publish -> last entry)")
    if received_rate is not None:
        print(f"  store received   {received_rate:,.0f} events/s (first to last received_at)")
    drain_s = done_at - published_at
    print(f"  backlog drained  {drain_s:.2f} s after publishing ended")
    print(f"  load after       {load}")
    for name, before in cpu_before.items():
        spent = cpu_after[name] - before
        if pids[name] and found:
            print(
                f"  cpu {name:<12} {spent:.2f} s = {spent / found * 1e6:,.0f} us/event "
                f"(pids {', '.join(map(str, pids[name]))})"
            )

    valid, checked, problems = await verify(args.gateway, orgs)
    print(f"  chains           {valid} of {len(orgs)} verify, {checked} entries checked")
    for problem in problems[:10]:
        print(f"    {problem}")
    return 0 if found >= args.n and not problems else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench audit-throughput",
        description="Events/s from the bus into the audit store, chains verified afterwards.",
    )
    parser.add_argument("n", nargs="?", type=int, default=50_000, help="events (50000)")
    parser.add_argument("--orgs", type=int, default=50, help="organizations / chains (50)")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="queue all N with the worker stopped, then time the worker alone",
    )
    parser.add_argument(
        "--wait-timeout", type=float, default=600.0, help="seconds to wait for the audit (600)"
    )
    parser.add_argument(
        "--gateway", default=os.environ.get("MSS_GATEWAY_URL", DEFAULT_GATEWAY).rstrip("/")
    )
    parser.add_argument(
        "--rabbitmq-url", default=os.environ.get("MSS_RABBITMQ_URL", DEFAULT_RABBITMQ)
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MSS_BENCH_DATABASE_URL")
        or os.environ.get("MSS_DATABASE_URL")
        or DEFAULT_DATABASE,
        help="PostgreSQL URL able to read audit.audit_logs (superuser: RLS does not apply)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.orgs < 1:
        parser.error("N and --orgs must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
