"""Gateway overhead: the same GET straight to the service and through NGINX, req/s and p50/p99.

`scripts/bench gateway [--seconds 10] [--concurrency 32]`

Mints an access token with the dev signing key (newest PEM under MSS_RUN_DIR/keys/signing,
as identity signs) for a random super_admin of an MSS provider, sets its session key in
Redis, and loads, one leg after the other with the same concurrency and duration:

  1. GET /api/organizations?limit=1 straight to the organization service (127.0.0.1:8102)
  2. the same through a second NGINX rendered from the same templates with every rate
     limit lifted by environment (127.0.0.1:18080, started and stopped by this bench):
     the edge (per-address limit, token check: auth_request, cached) + the hop to the
     budgets server (per-user/org limits) + proxy, nothing capped. The gateway's own time
     (access log) is the edge's request time minus the service's response time as the
     budgets server saw it: both hops, and the event-loop turns between them, count.
  3. the same through the running gateway (127.0.0.1:8080), whose per-user limit
     (50 r/s, burst 100) answers most of one token's requests with 429 by design
  4. GET /.well-known/jwks.json straight to identity (127.0.0.1:8101)
  5. the same through the lifted-limits gateway: a cheap upstream answer, so the proxy's
     own cost is the larger share of what is measured.

Uses `wrk` when installed (apt-get install wrk), else an asyncio httpx loop (slower client:
its figures are lower bounds). Loopback only; figures are printed, never asserted. Ports
are shifted by MSS_PORT_OFFSET like every port of the platform.
Environment: MSS_RUN_DIR, MSS_REDIS_URL (default redis://127.0.0.1:6379/0), MSS_PORT_OFFSET.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("MSS_RUN_DIR") or ROOT / ".run")
REDIS_URL = os.environ.get("MSS_REDIS_URL", "redis://127.0.0.1:6379/0")
# Every port shifted by MSS_PORT_OFFSET, as scripts/up shifts them.
OFFSET = int(os.environ.get("MSS_PORT_OFFSET", "0") or "0")
GATEWAY = f"http://127.0.0.1:{8080 + OFFSET}"
LIFTED_PORT = 18080 + OFFSET
LIFTED_GATEWAY = f"http://127.0.0.1:{LIFTED_PORT}"
# Every limit far above what two cores can serve: the zones are still evaluated.
LIFTED_LIMITS = {
    name: value
    for rate, burst in (
        ("MSS_RATE_AUTH_PER_IP", "MSS_RATE_AUTH_BURST"),
        ("MSS_RATE_PER_USER", "MSS_RATE_USER_BURST"),
        ("MSS_RATE_PER_ORG", "MSS_RATE_ORG_BURST"),
        ("MSS_RATE_PER_IP", "MSS_RATE_IP_BURST"),
        ("MSS_RATE_INGEST_PER_ORG", "MSS_RATE_INGEST_BURST"),
    )
    for name, value in ((rate, "1000000r/s"), (burst, "1000000"))
}
ORGANIZATION = f"http://127.0.0.1:{8102 + OFFSET}"
IDENTITY = f"http://127.0.0.1:{8101 + OFFSET}"
API_PATH = "/api/organizations?limit=1"
JWKS_PATH = "/.well-known/jwks.json"

# wrk: a unique dummy bearer per request when `unique_sub` is set; JSON summary at the end.
WRK_SCRIPT = """
local unique_sub = __UNIQUE_SUB__
local fixed_auth = "__AUTH__"
local header = "eyJhbGciOiJub25lIn0"
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local counter = 0
local function enc(data)
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64:sub(c + 1, c + 1)
  end))
end
local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
function request()
  local headers = {}
  if unique_sub then
    counter = counter + 1
    local claims = '{"sub":"bench-' .. thread_id .. '-' .. counter .. '"}'
    headers["Authorization"] = "Bearer " .. header .. "." .. enc(claims) .. ".x"
  elseif fixed_auth ~= "" then
    headers["Authorization"] = fixed_auth
  end
  return wrk.format("GET", nil, headers)
end
ok = 0
limited = 0
function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 429 then
    limited = limited + 1
  end
end
function done(summary, latency, requests)
  local ok_total, limited_total = 0, 0
  for _, t in ipairs(threads) do
    ok_total = ok_total + t:get("ok")
    limited_total = limited_total + t:get("limited")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"ok":%d,"limited":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, ok_total, limited_total,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Leg:
    """What one load leg measured."""

    name: str
    requests: int
    ok: int
    limited: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan

    @property
    def ok_rps(self) -> float:
        return self.ok / self.seconds if self.seconds else math.nan


def mint_token(sessions: redis.Redis, ttl_s: int) -> tuple[str, str]:
    """A super_admin access token signed like identity's, with a live session."""
    files = sorted((RUN_DIR / "keys" / "signing").glob("*.pem"))
    if not files:
        sys.exit(f"no signing key under {RUN_DIR / 'keys' / 'signing'}: run scripts/up first")
    key = serialization.load_pem_private_key(files[-1].read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = int(time.time())
    sub, sid, org = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    claims = {
        "iss": "mss-identity",
        "aud": "mss-platform",
        "sub": sub,
        "sid": sid,
        "org": org,
        "orgType": "mss_provider",
        "role": "super_admin",
        "amr": ["pwd"],
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(
        claims, key, algorithm="ES256", headers={"kid": files[-1].stem, "typ": "at+jwt"}
    )
    sessions.set(f"session:{sid}", sub, ex=ttl_s)
    return token, f"session:{sid}"


def run_wrk(name: str, url: str, auth: str, unique_sub: bool, seconds: int, conc: int) -> Leg:
    # The token is base64url + dots: safe inside a Lua string literal.
    script = WRK_SCRIPT.replace("__UNIQUE_SUB__", "true" if unique_sub else "false")
    script = script.replace("__AUTH__", auth)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    threads = max(1, min(conc, os.cpu_count() or 1))
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{conc}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "-s",
                path,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(path)
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    return Leg(
        name=name,
        requests=data["requests"],
        ok=data["ok"],
        limited=data["limited"],
        errors=data["socket_errors"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def _dummy_bearer(sub: str) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"sub": sub}).encode()).rstrip(b"=").decode()
    return f"Bearer eyJhbGciOiJub25lIn0.{claims}.x"


async def run_httpx(
    name: str, url: str, auth: str, unique_sub: bool, seconds: int, conc: int
) -> Leg:
    latencies: list[float] = []
    counts = {"ok": 0, "limited": 0, "errors": 0}
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def worker(worker_id: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                headers = {"Authorization": auth} if auth else {}
                if unique_sub:
                    headers["Authorization"] = _dummy_bearer(f"bench-{worker_id}-{n}")
                started = time.perf_counter()
                try:
                    response = await client.get(url, headers=headers)
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if response.is_success:
                    counts["ok"] += 1
                elif response.status_code == 429:
                    counts["limited"] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(conc)))
        elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return math.nan
        return latencies[max(0, math.ceil(p / 100 * len(latencies)) - 1)] * 1000

    return Leg(name, len(latencies), counts["ok"], counts["limited"], counts["errors"], elapsed,
               pct(50), pct(99))  # fmt: skip


@dataclass
class Added:
    """The gateway's own time per request: NGINX's request time minus the upstream's."""

    count: int
    p50_ms: float
    p99_ms: float


def _last_upstream_s(entry: dict[str, object]) -> float | None:
    """The last upstreamResponseTime of an access-log line (the proxied request; an
    uncached token check is the first value and counts as the gateway's), in seconds."""
    upstream = str(entry["upstreamResponseTime"]).split(",")[-1].strip()
    if not upstream or upstream == "-":
        return None
    return float(upstream)


def gateway_added_time(access_log: Path, path: str) -> Added:
    """The gateway's own time per request, from the JSON access log: the edge's
    requestTime minus the service's response time. An authenticated request has a line at
    the edge and one at the budgets server (the same requestId), whose upstream is the
    service; a public request has the edge's line only, whose upstream is the service."""
    hops: dict[str, dict[str, dict[str, object]]] = {}
    for line in access_log.read_text().splitlines():
        entry = json.loads(line)
        hops.setdefault(str(entry["requestId"]), {})[str(entry.get("hop", "edge"))] = entry
    added = []
    for lines in hops.values():
        edge = lines.get("edge")
        if edge is None or not path.startswith(str(edge["uri"])) or edge["status"] != 200:
            continue
        service = _last_upstream_s(lines.get("budgets", edge))
        if service is not None:
            added.append((float(str(edge["requestTime"])) - service) * 1000)
    added.sort()
    if not added:
        return Added(0, math.nan, math.nan)
    return Added(len(added), statistics.median(added), added[int(len(added) * 0.99) - 1])


@contextlib.contextmanager
def lifted_gateway() -> Iterator[Path]:
    """A second NGINX from the same templates, rate limits lifted, on LIFTED_PORT."""
    nginx = shutil.which("nginx")
    if nginx is None:
        sys.exit("nginx not found: run scripts/up first")
    with tempfile.TemporaryDirectory(prefix="mss-bench-gw-") as prefix:
        # NGINX's workers drop root: they must reach the config, njs module and cache.
        os.chmod(prefix, 0o755)  # noqa: S103
        env = {
            **os.environ,
            **LIFTED_LIMITS,
            "MSS_GATEWAY_HTTP_PORT": str(LIFTED_PORT),
            "MSS_GATEWAY_HTTPS_PORT": str(LIFTED_PORT + 363),
            # The running gateway's dev certificate: no need to make another.
            "MSS_TLS_CERT": str(RUN_DIR / "nginx" / "tls" / "dev-cert.pem"),
            "MSS_TLS_KEY": str(RUN_DIR / "nginx" / "tls" / "dev-key.pem"),
        }
        render = [sys.executable, str(ROOT / "nginx" / "render.py"), "--out", prefix]
        subprocess.run(render, env=env, check=True, capture_output=True)
        conf = str(Path(prefix) / "nginx.conf")
        process = subprocess.Popen(
            [nginx, "-p", prefix, "-c", conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    httpx.get(LIFTED_GATEWAY + "/health", timeout=1.0)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        sys.exit("the lifted-limits gateway did not start")
                    time.sleep(0.1)
            yield Path(prefix)
        finally:
            process.terminate()
            process.wait(timeout=10)


def load(name: str, url: str, auth: str, unique_sub: bool, args: argparse.Namespace) -> Leg:
    # Let the previous leg's after-effects drain first (its access-transparency events are
    # relayed and audited after the leg ends), so no leg pays for another's.
    time.sleep(args.settle)
    # One request first: a token's first check is not cached yet, and the requests that
    # arrive meanwhile wait on the cache lock, which NGINX polls every 500 ms.
    httpx.get(url, headers={"Authorization": auth} if auth else {}, timeout=5.0)
    if shutil.which("wrk"):
        return run_wrk(name, url, auth, unique_sub, args.seconds, args.concurrency)
    return asyncio.run(run_httpx(name, url, auth, unique_sub, args.seconds, args.concurrency))


def report(leg: Leg) -> None:
    print(
        f"  {leg.name:<28} {leg.rps:>9.0f} req/s  2xx {leg.ok_rps:>9.0f}/s  "
        f"429 {leg.limited:>7}  err {leg.errors:>4}  p50 {leg.p50_ms:>7.2f} ms  "
        f"p99 {leg.p99_ms:>7.2f} ms"
    )


def report_added(added: Added) -> None:
    print(
        f"  time spent in the gateway itself (access log, {added.count} requests, 1 ms "
        f"resolution): p50 {added.p50_ms:.2f} ms, p99 {added.p99_ms:.2f} ms"
    )


def compare(label: str, direct: Leg, gateway: Leg) -> None:
    ratio = gateway.ok_rps / direct.ok_rps if direct.ok_rps else math.nan
    print(
        f"  {label}: gateway/direct 2xx throughput {ratio:.2f}x, "
        f"added p99 {gateway.p99_ms - direct.p99_ms:+.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each leg")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds of quiet before each leg"
    )
    args = parser.parse_args()
    if not 1 <= args.seconds <= 300 or not 1 <= args.concurrency <= 1024:
        parser.error("--seconds must be 1..300 and --concurrency 1..1024")

    for base in (GATEWAY, ORGANIZATION, IDENTITY):
        try:
            httpx.get(base + "/health", timeout=3.0)
        except httpx.HTTPError as exc:
            sys.exit(f"{base} does not answer ({exc}): start the stack with scripts/up")

    sessions = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    token, session_key = mint_token(sessions, ttl_s=4 * args.seconds + 120)
    auth = f"Bearer {token}"
    tool = "wrk" if shutil.which("wrk") else "httpx asyncio (wrk not installed)"
    print(
        f"gateway bench: {tool}, {args.concurrency} connections, {args.seconds}s per leg, loopback"
    )
    try:
        api_direct = load(
            f"api direct :{8102 + OFFSET}", ORGANIZATION + API_PATH, auth, False, args
        )
        with lifted_gateway() as prefix:
            lifted = LIFTED_GATEWAY
            access_log = prefix / "logs" / "access.log"
            api_lifted = load(
                f"api gateway :{LIFTED_PORT} lifted", lifted + API_PATH, auth, False, args
            )
            api_added = gateway_added_time(access_log, API_PATH.split("?")[0])
            access_log.write_text("")  # NGINX keeps appending to the same (emptied) file
            jwks_direct = load(
                f"jwks direct :{8101 + OFFSET}", IDENTITY + JWKS_PATH, "", True, args
            )
            jwks_gateway = load(
                f"jwks gateway :{LIFTED_PORT} lifted", lifted + JWKS_PATH, "", True, args
            )
            jwks_added = gateway_added_time(access_log, JWKS_PATH)
        api_gateway = load(f"api gateway :{8080 + OFFSET}", GATEWAY + API_PATH, auth, False, args)
    finally:
        sessions.delete(session_key)
        sessions.close()

    print(f"\nGET {API_PATH} (one minted super_admin token):")
    report(api_direct)
    report(api_lifted)
    report(api_gateway)
    compare("api, limits lifted", api_direct, api_lifted)
    report_added(api_added)
    capped = api_gateway.limited > 0.1 * max(1, api_gateway.requests)
    if capped:
        print(
            "  NOTE: one token = one user and one organization; the gateway's per-user "
            f"(50 r/s, burst 100) and per-org limits answered {api_gateway.limited} of "
            f"{api_gateway.requests} with 429, so the gateway leg measures the rate limiter, "
            "not the authenticated proxy path. Real throughput is capped per user/org by "
            "design; the lifted-limits leg above measures the authenticated proxy path."
        )
    print(f"\nGET {JWKS_PATH} (public, cheap: the proxy's own cost stands out):")
    report(jwks_direct)
    report(jwks_gateway)
    compare("jwks", jwks_direct, jwks_gateway)
    report_added(jwks_added)
    print("  NOTE: public, so no token check: the proxy path alone, through the lifted gateway.")


if __name__ == "__main__":
    main()
