"""Cheap requests: each service's one-page list against a bare FastAPI + asyncpg control.

`scripts/bench api [--seconds 10] [--concurrency 16] [--seed 200] [--only NAME]`

Against the running platform of MSS_PORT_OFFSET (scripts/up), straight to each service's
API process (no gateway), with a valid access token of the bootstrap super admin (signed
with the dev key, as identity signs; its session set in Redis):

  organizations  GET /api/organizations?limit=1          (organization)
  users          GET /api/users?limit=1                  (identity)
  me             GET /api/auth/me                        (identity)
  audit-logs     GET /api/audit/logs?limit=1             (audit)
  jwks           GET /.well-known/jwks.json              (identity, static)

and, one leg after the other with the same wrk settings, the same against the CONTROL
(scripts/lib/bench_control.py, one uvicorn process): a transaction, the same RLS settings
(`app.org_ids`, `app.all_orgs`) and the same SQL as the service runs for that request
(the statements below, as captured from the services' SQL log with `log_statement=all`;
kept in step with the repositories by hand), on the same rows, as the same database role.

First seeds `--seed` organizations (POST /api/organizations) when fewer exist.
Prints req/s, p50, p99 of both, the ratio ours/control, and `uptime` before and after.
Also the CPU time the serving process spent per request during its leg (/proc/PID/stat:
the API's pid from MSS_RUN_DIR/pids, the control's own), and what that makes per core:
on a shared, loaded machine req/s mostly measures the share of CPU a process got, while
CPU per request is what the code costs.
Goal (issue 10 §3): ours ≥ 0.6× the control and ≥ 1,000 req/s per API process.
Figures are printed, never asserted. wrk is installed by scripts/bench when missing.
"""

# ruff: noqa: S608 - the SQL is built from our own table and column names only

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import Leg, run_wrk

from mss_db.pages import TOTAL_CAP
from mss_settings import PlatformSettings, role_database_url

ROOT = Path(__file__).resolve().parents[2]
CONTROL = Path(__file__).resolve().parent / "bench_control.py"


# What each service runs for the request, as its SQL log shows it (super admin: every
# organization in scope, so `in_scope` renders `WHERE true`). The count is `meta.total`.
def _columns(table: str, names: str) -> str:
    return ", ".join(f"{table}.{name}" for name in names.split())


ORG_COLUMNS = _columns(
    "organization.organizations",
    "id name type domain sso_enabled status settings version created_at updated_at created_by",
)
USER_COLUMNS = _columns(
    "identity.users",
    "id org_id email password_hash first_name last_name role status mfa_enabled mfa_secret "
    "mfa_backup_codes mfa_last_step email_verified last_login_at last_login_ip "
    "failed_login_attempts locked_until version created_at updated_at created_by",
)
DIRECTORY_COLUMNS = _columns("identity.org_directory", "id name type status settings version")
AUDIT_COLUMNS = _columns(
    "audit.audit_logs",
    "position id event_id user_id session_id org_id action resource_type resource_id details "
    "ip_address user_agent success error_message timestamp chain_key seq prev_hash hash",
)


def paged_sql(columns: str, table: str, order: str) -> dict[str, Any]:
    """`mss_db.pages.fetch_page`'s one statement: a page of one row and its capped count."""
    return {
        "sql": f"SELECT {columns}, (SELECT count(*) AS count_1 FROM (SELECT 1 FROM {table} "
        "WHERE true LIMIT $1::INTEGER) AS capped) AS mss_page_total "
        f"FROM {table} WHERE true ORDER BY {order} LIMIT $2::INTEGER OFFSET $3::INTEGER",
        "args": [TOTAL_CAP + 1, 1, 0],
    }


@dataclass
class Target:
    name: str
    service: str
    path: str
    role: str | None = None
    statements: list[dict[str, Any]] = field(default_factory=list)
    static: Any = None


@dataclass
class Platform:
    settings: PlatformSettings
    admin_dsn: str
    run_dir: Path
    user_id: str = ""
    org_id: str = ""
    token: str = ""

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.settings.port(service)}"


def admin_dsn(settings: PlatformSettings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


def fetchrow(dsn: str, sql: str) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchrow(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def find_admin(platform: Platform) -> None:
    """The bootstrap super admin: a real user, so `me` finds it."""
    row = fetchrow(
        platform.admin_dsn,
        "SELECT id, org_id FROM identity.users WHERE role = 'super_admin' "
        "AND status = 'active' ORDER BY created_at LIMIT 1",
    )
    if row is None:
        sys.exit("no active super admin: run scripts/up first")
    platform.user_id, platform.org_id = str(row[0]), str(row[1])


def mint_token(platform: Platform, sessions: redis.Redis, ttl_s: int) -> None:
    files = sorted((platform.run_dir / "keys" / "signing").glob("*.pem"))
    if not files:
        sys.exit(f"no signing key under {platform.run_dir / 'keys' / 'signing'}: run scripts/up")
    key = serialization.load_pem_private_key(files[-1].read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now, sid = int(time.time()), str(uuid.uuid4())
    claims = {
        "iss": platform.settings.token_issuer,
        "aud": platform.settings.token_audience,
        "sub": platform.user_id,
        "sid": sid,
        "org": platform.org_id,
        "orgType": "mss_provider",
        "role": "super_admin",
        "amr": ["pwd"],
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    platform.token = jwt.encode(
        claims, key, algorithm="ES256", headers={"kid": files[-1].stem, "typ": "at+jwt"}
    )
    sessions.set(f"session:{sid}", platform.user_id, ex=ttl_s)


def seed(platform: Platform, wanted: int) -> int:
    have = fetchrow(platform.admin_dsn, "SELECT count(*) FROM organization.organizations")
    count = int(have[0]) if have else 0
    headers = {"Authorization": f"Bearer {platform.token}"}
    url = platform.url("organization") + "/api/organizations"
    with httpx.Client(timeout=10.0, headers=headers) as client:
        for n in range(count, wanted):
            name = f"Bench Customer {n} {uuid.uuid4().hex[:6]}"
            response = client.post(url, json={"name": name, "type": "customer"})
            if response.status_code != 201:
                sys.exit(f"seeding failed: {response.status_code} {response.text}")
    return max(count, wanted)


def targets(platform: Platform) -> list[Target]:
    user, org = {"uuid": platform.user_id}, {"uuid": platform.org_id}
    jwks_url = platform.url("identity") + "/.well-known/jwks.json"
    check(jwks_url, "")
    jwks = httpx.get(jwks_url, timeout=5.0).json()
    return [
        Target(
            "organizations",
            "organization",
            "/api/organizations?limit=1",
            "organization_app",
            [
                paged_sql(
                    ORG_COLUMNS,
                    "organization.organizations",
                    "organization.organizations.created_at DESC, organization.organizations.id",
                )
            ],
        ),
        Target(
            "users",
            "identity",
            "/api/users?limit=1",
            "identity_app",
            [
                paged_sql(
                    USER_COLUMNS,
                    "identity.users",
                    "identity.users.created_at DESC, identity.users.id",
                )
            ],
        ),
        Target(
            "me",
            "identity",
            "/api/auth/me",
            "identity_app",
            [
                {
                    "sql": f"SELECT {USER_COLUMNS} FROM identity.users "
                    "WHERE identity.users.id = $1::UUID",
                    "args": [user],
                },
                {
                    "sql": f"SELECT {DIRECTORY_COLUMNS} FROM identity.org_directory "
                    "WHERE identity.org_directory.id = $1::UUID",
                    "args": [org],
                },
            ],
        ),
        Target(
            "audit-logs",
            "audit",
            "/api/audit/logs?limit=1",
            "audit_app",
            [
                {
                    "sql": f"SELECT {AUDIT_COLUMNS} FROM audit.audit_logs WHERE true "
                    "ORDER BY audit.audit_logs.position DESC LIMIT $1::INTEGER",
                    "args": [2],
                }
            ],
        ),
        Target("jwks", "identity", "/.well-known/jwks.json", static=jwks),
    ]


def control_spec(platform: Platform, chosen: list[Target]) -> dict[str, Any]:
    spec_targets: list[dict[str, Any]] = []
    for target in chosen:
        if target.static is not None:
            spec_targets.append({"name": target.name, "static": target.static})
            continue
        assert target.role is not None
        dsn = role_database_url(platform.settings, target.role).replace(
            "postgresql+asyncpg://", "postgresql://"
        )
        spec_targets.append(
            {
                "name": target.name,
                "dsn": dsn,
                # The super admin's scope, as `apply_scope` sets it.
                "settings": {"app.org_ids": "", "app.all_orgs": "on"},
                "statements": target.statements,
            }
        )
    # The services' pool: db_pool_size connections plus as many overflow.
    return {"pool_size": 2 * platform.settings.db_pool_size, "targets": spec_targets}


@dataclass
class Measured:
    """A wrk leg and the CPU the serving process spent during it."""

    leg: Leg
    cpu_s: float

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.leg.requests if self.leg.requests else float("nan")

    @property
    def capacity(self) -> float:
        """Requests per second of one core's worth of CPU: what the process would serve
        alone on an idle core (the machine is shared, so req/s alone understates it)."""
        return 1000 / self.cpu_ms_per_request if self.leg.requests else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` (and its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, name: str, url: str, auth: str, args: argparse.Namespace) -> Measured:
    before = cpu_seconds(pid)
    leg = run_wrk(name, url, auth, False, args.seconds, args.concurrency)
    return Measured(leg, cpu_seconds(pid) - before)


def service_pid(platform: Platform, service: str) -> int:
    return int((platform.run_dir / "pids" / f"{service}-api.pid").read_text())


@contextmanager
def control_app(spec: dict[str, Any], port: int) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory(prefix="mss-bench-api-") as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec))
        os.chmod(path, 0o600)
        process = subprocess.Popen(
            [sys.executable, str(CONTROL), "--spec", str(path), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=None,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"{base}/jwks", timeout=1.0)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        sys.exit("the control app did not start")
                    time.sleep(0.2)
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)


def check(url: str, auth: str) -> None:
    try:
        response = httpx.get(url, headers={"Authorization": auth} if auth else {}, timeout=5.0)
    except httpx.HTTPError as exc:
        sys.exit(f"{url} does not answer ({exc}): start the platform with scripts/up")
    if response.status_code != 200:
        sys.exit(f"{url} answered {response.status_code}: {response.text[:300]}")


def ratio(ours: float, control: float) -> float:
    return ours / control if control else float("nan")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def line(label: str, measured: Measured) -> str:
    leg = measured.leg
    errors = leg.requests - leg.ok
    return (
        f"  {label:<9} {leg.rps:>8.0f} req/s  p50 {leg.p50_ms:>7.2f} ms  "
        f"p99 {leg.p99_ms:>7.2f} ms  CPU {measured.cpu_ms_per_request:>6.2f} ms/req "
        f"(≈ {measured.capacity:>5.0f} req/s per core)  non-2xx {errors:>5}  "
        f"socket errors {leg.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each leg")
    parser.add_argument("--concurrency", type=int, default=16, help="open connections")
    parser.add_argument("--seed", type=int, default=200, help="organizations to have at least")
    parser.add_argument("--settle", type=float, default=3.0, help="quiet seconds before a leg")
    parser.add_argument("--only", action="append", help="run only this target (repeatable)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not installed: run through scripts/bench (it installs it)")

    settings = PlatformSettings()
    platform = Platform(
        settings=settings,
        admin_dsn=admin_dsn(settings),
        run_dir=Path(os.environ.get("MSS_RUN_DIR") or ROOT / ".run"),
    )
    find_admin(platform)
    sessions = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    legs = 2 * 5
    mint_token(platform, sessions, ttl_s=int(legs * (args.seconds + args.settle + 5)) + 300)
    auth = f"Bearer {platform.token}"
    orgs = seed(platform, args.seed)

    chosen = [t for t in targets(platform) if not args.only or t.name in args.only]
    control_port = 29000 + settings.port_offset % 1000
    print(
        f"api bench: wrk, {args.concurrency} connections, {args.seconds}s per leg, loopback, "
        f"{orgs} organizations, straight to each service (no gateway)"
    )
    print(f"  load before: {uptime()}")
    rows: list[tuple[Target, Measured, Measured]] = []
    with control_app(control_spec(platform, chosen), control_port) as (control, control_pid):
        for target in chosen:
            ours_url = platform.url(target.service) + target.path
            control_url = f"{control}/{target.name}"
            check(ours_url, auth)
            check(control_url, "")
            time.sleep(args.settle)
            pid = service_pid(platform, target.service)
            ours = measure(pid, target.name, ours_url, auth, args)
            time.sleep(args.settle)
            ctrl = measure(control_pid, target.name, control_url, "", args)
            rows.append((target, ours, ctrl))
            print(f"{target.name}: GET {target.path} ({target.service})")
            print(line("ours", ours))
            print(line("control", ctrl))
            print(
                f"  ratio     {ratio(ours.leg.rps, ctrl.leg.rps):.2f}x req/s, "
                f"{ratio(ours.capacity, ctrl.capacity):.2f}x per CPU"
            )
    print(f"  load after: {uptime()}")
    print()
    print(
        f"  {'target':<14} {'ours r/s':>9} {'p50':>7} {'p99':>7} {'r/s/core':>8} "
        f"{'ctrl r/s':>9} {'p50':>7} {'p99':>7} {'r/s/core':>8} {'ratio':>6} {'/CPU':>6}"
    )
    for target, ours, ctrl in rows:
        by_rps, by_cpu = ratio(ours.leg.rps, ctrl.leg.rps), ratio(ours.capacity, ctrl.capacity)
        print(
            f"  {target.name:<14} {ours.leg.rps:>9.0f} {ours.leg.p50_ms:>7.1f} "
            f"{ours.leg.p99_ms:>7.1f} {ours.capacity:>8.0f} {ctrl.leg.rps:>9.0f} "
            f"{ctrl.leg.p50_ms:>7.1f} {ctrl.leg.p99_ms:>7.1f} {ctrl.capacity:>8.0f} "
            f"{by_rps:>5.2f}x {by_cpu:>5.2f}x"
        )
    sessions.close()


if __name__ == "__main__":
    main()
