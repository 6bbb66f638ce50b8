"""The rendered gateway on a real NGINX, in front of a fake of every upstream: the edge and
the budgets server (identity headers, request ids, the budgets of verified identities only,
the websocket through both), and the redirect of plain HTTP to HTTPS.

The fake is one threaded HTTP server standing in for the introspection endpoint (a token is
valid when a test registered it in `Backend.identities`) and for every service (it echoes
what it received, and speaks just enough websocket to echo one message). Rates are one
request a minute with small bursts, so a budget never refills during a test: every count
below is exact. Skipped where nginx with the njs module is not installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from mss_settings import registry

RENDER = Path(__file__).resolve().parents[1] / "render.py"
JS_MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules")
# Every API of the registry, and the introspection process, goes to the fake upstream;
# security's goes nowhere (a port nothing listens on): the budget tests show what a request
# past the budgets meets when its service is down. None may reach a platform that happens
# to run on this machine's default ports.
FAKED_UPSTREAMS = (
    *(f"MSS_{s.name.upper()}_UPSTREAM" for s in registry.services() if s.name != "security"),
    "MSS_INTROSPECTION_UPSTREAM",
)
USER_BURST, ORG_BURST, INGEST_BURST = 4, 6, 3
BUDGETS = {
    "MSS_RATE_PER_USER": "1r/m",
    "MSS_RATE_USER_BURST": str(USER_BURST),
    "MSS_RATE_PER_ORG": "1r/m",
    "MSS_RATE_ORG_BURST": str(ORG_BURST),
    "MSS_RATE_INGEST_PER_ORG": "1r/m",
    "MSS_RATE_INGEST_BURST": str(INGEST_BURST),
}
SERVED = "/api/organizations"  # routed to a service (the fake)
UNSERVED = "/api/no-such-service"  # routed to none: the budgets server answers 404
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None or not any(Path(d, "ngx_http_js_module.so").is_file() for d in JS_MODULE_DIRS):
        pytest.skip("nginx with the njs module is not installed here")
    return nginx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def token(sub: str, org: str) -> str:
    """A JWT-shaped token claiming sub/org (unsigned: the fake introspection decides)."""

    def segment(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"sub": sub, "org": org, "jti": uuid.uuid4().hex}
    return f"{segment({'alg': 'ES256', 'kid': 'k'})}.{segment(claims)}.c2ln"


@dataclass
class Backend:
    """The fake upstreams' state: valid tokens, and every request a service received."""

    identities: dict[str, tuple[str, str]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def valid(self, sub: str, org: str) -> dict[str, str]:
        """Registers a token the introspection accepts; returns its Authorization header."""
        value = token(sub, org)
        self.identities[value] = (sub, org)
        return {"Authorization": f"Bearer {value}"}

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["path"].split("?")[0] == path]


def read_frame(stream: BufferedIOBase) -> tuple[int, bytes]:
    """One (client, masked) websocket frame: opcode and payload."""
    first, second = stream.read(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(stream.read(2), "big")
    elif length == 127:
        length = int.from_bytes(stream.read(8), "big")
    mask = stream.read(4) if second & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(stream.read(length)))
    return first & 0x0F, payload


def handler_for(backend: Backend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            if self.path == "/introspect":
                self.introspect()
            elif self.headers.get("Upgrade", "").lower() == "websocket":
                self.websocket()
            else:
                self.echo()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.echo(hashlib.sha256(body).hexdigest())

        def introspect(self) -> None:
            value = self.headers.get("Authorization", "").removeprefix("Bearer ")
            identity = backend.identities.get(value)
            self.send_response(204 if identity else 401)
            if identity:
                self.send_header("X-Auth-Subject", identity[0])
                self.send_header("X-Auth-Org", identity[1])
                self.send_header("X-Auth-Role", "admin")
                self.send_header("X-Auth-Session", "s-" + identity[0])
            else:
                self.send_header("X-Auth-Error", "INVALID_TOKEN")
            self.send_header("X-Accel-Expires", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def record(self, body_sha256: str = "") -> None:
            with backend.lock:
                backend.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body_sha256}
                )

        def echo(self, body_sha256: str = "") -> None:
            self.record(body_sha256)
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            # A service's own copy of a header the gateway owns: must not reach the client.
            self.send_header("X-Frame-Options", "ALLOWALL")
            self.end_headers()
            self.wfile.write(body)

        def websocket(self) -> None:
            self.record()
            key = self.headers["Sec-WebSocket-Key"] + WS_GUID
            digest = hashlib.sha1(key.encode(), usedforsecurity=False)
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", base64.b64encode(digest.digest()).decode())
            self.send_header("Sec-WebSocket-Protocol", "bearer")
            self.end_headers()
            self.wfile.flush()
            while True:
                opcode, payload = read_frame(self.rfile)
                if opcode == 0x8:  # close: answer it and stop
                    self.wfile.write(bytes([0x88, len(payload)]) + payload)
                    break
                echoed = b"echo:" + payload
                self.wfile.write(bytes([0x81, len(echoed)]) + echoed)
                self.wfile.flush()
            self.close_connection = True

    return Handler


@dataclass
class Gateway:
    http: str
    https: str
    prefix: Path
    backend: Backend


@contextmanager
def running_gateway(**settings: str) -> Iterator[Gateway]:
    """Renders the gateway with `settings` in front of a fresh fake and runs it."""
    nginx = nginx_binary()
    backend = Backend()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(backend))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"127.0.0.1:{server.server_address[1]}"
    http_port, https_port = free_port(), free_port()
    # Not under pytest's tmp_path (mode 0700): NGINX's workers, when the master runs as root,
    # are another user, and must reach the budgets socket and the cache under the prefix.
    prefix = Path(tempfile.mkdtemp(prefix="mss-gw-"))
    prefix.chmod(0o755)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin",
        "MSS_GATEWAY_HTTP_PORT": str(http_port),
        "MSS_GATEWAY_HTTPS_PORT": str(https_port),
        "MSS_GATEWAY_WORKERS": "1",
        **dict.fromkeys(FAKED_UPSTREAMS, upstream),
        "MSS_SECURITY_UPSTREAM": f"127.0.0.1:{free_port()}",
        **settings,
    }
    rendered = subprocess.run(
        [sys.executable, str(RENDER), "--out", str(prefix)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.05)
        yield Gateway(
            http=f"http://127.0.0.1:{http_port}",
            https=f"https://127.0.0.1:{https_port}",
            prefix=prefix,
            backend=backend,
        )
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.shutdown()
        server.server_close()
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """The development gateway (plain HTTP serves), small budgets that never refill."""
    with running_gateway(**BUDGETS) as running:
        yield running


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.http, timeout=10) as http:
        yield http


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["code"] == code, body


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    assert response.headers.get("x-request-id")


# --- the edge and the budgets server --------------------------------------------------------


def test_a_service_gets_the_verified_identity_and_the_edges_request_id(
    gateway: Gateway, client: httpx.Client
) -> None:
    sub, org = new_id("alice"), new_id("org")
    spoofed = {
        "X-Auth-Subject": "mallory",
        "X-Auth-Org": "other-org",
        "X-Real-IP": "203.0.113.9",
        "X-Forwarded-For": "203.0.113.9",
        "X-Request-ID": "chosen-by-client",
        "X-MSS-Hop": "guessed",
    }

    response = client.get(
        SERVED, params={"limit": 1}, headers={**gateway.backend.valid(sub, org), **spoofed}
    )

    assert response.status_code == 200, response.text
    assert_security_headers(response)
    (seen,) = gateway.backend.requests_to(SERVED)
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert seen["path"] == f"{SERVED}?limit=1"
    assert headers["x-auth-subject"] == sub
    assert headers["x-auth-org"] == org
    assert headers["x-auth-role"] == "admin"
    assert headers["x-real-ip"] == headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-request-id"] == response.headers["x-request-id"] != "chosen-by-client"
    assert "x-mss-hop" not in headers  # the hop's secret stays inside the gateway
    assert headers["authorization"].startswith("Bearer ")  # the service verifies it again


def test_a_large_body_reaches_the_service_whole_through_both_servers(
    gateway: Gateway, client: httpx.Client
) -> None:
    body = uuid.uuid4().bytes * (5 * 1024 * 1024 // 16)  # 5 MB, under the 10 MB cap
    path = "/api/organizations/large"

    response = client.post(
        path, content=body, headers=gateway.backend.valid(new_id("u"), new_id("o"))
    )

    assert response.status_code == 200, response.text
    (seen,) = gateway.backend.requests_to(path)
    assert seen["body"] == hashlib.sha256(body).hexdigest()


def test_forged_tokens_claiming_a_user_never_spend_its_budget(
    gateway: Gateway, client: httpx.Client
) -> None:
    sub, org = new_id("victim"), new_id("org")
    forged = {"Authorization": f"Bearer {token(sub, org)}"}  # unknown to the introspection
    victim = gateway.backend.valid(sub, org)

    refused = [client.get(UNSERVED, headers=forged).status_code for _ in range(3 * USER_BURST)]
    answered = [client.get(UNSERVED, headers=victim) for _ in range(USER_BURST + 2)]

    assert refused == [401] * (3 * USER_BURST)
    # The victim's whole budget is its own: burst + 1 at once, then 429.
    assert [r.status_code for r in answered] == [404] * (USER_BURST + 1) + [429]
    limited = answered[-1]
    assert_envelope(limited, 429, "RATE_LIMITED")
    assert limited.json()["path"] == UNSERVED
    assert limited.headers["retry-after"] == "1"
    assert_security_headers(limited)


def test_forged_tokens_claiming_an_organization_never_spend_its_budget(
    gateway: Gateway, client: httpx.Client
) -> None:
    org = new_id("org")
    forged = [{"Authorization": f"Bearer {token(new_id('x'), org)}"} for _ in range(3 * ORG_BURST)]
    first, second = (
        gateway.backend.valid(new_id("u1"), org),
        gateway.backend.valid(new_id("u2"), org),
    )

    refused = {client.get(UNSERVED, headers=headers).status_code for headers in forged}
    by_first = [client.get(UNSERVED, headers=first).status_code for _ in range(USER_BURST + 1)]
    by_second = [client.get(UNSERVED, headers=second).status_code for _ in range(3)]

    assert refused == {401}
    assert by_first == [404] * (USER_BURST + 1)
    # The organization's budget (burst + 1 = 7) ends at the second user's second request,
    # well within that user's own budget.
    assert by_second == [404, 404, 429]


def test_forged_alerts_claiming_an_organization_never_spend_its_ingest_budget(
    gateway: Gateway, client: httpx.Client
) -> None:
    org = new_id("org")
    forged = {"Authorization": f"Bearer {token(new_id('siem'), org)}"}
    siem = gateway.backend.valid(new_id("siem"), org)

    refused = {client.post("/api/alerts", json={}, headers=forged).status_code for _ in range(10)}
    posted = [client.post("/api/alerts", json={}, headers=siem).status_code for _ in range(5)]
    read = client.get("/api/alerts", headers=siem)

    # Past the budgets, a request goes on to the security service's upstream, which does not
    # run in this test: whatever it answers then (502/503), it is not the budget's 429.
    admitted = {404, 502, 503}
    assert refused == {401}
    assert set(posted[: INGEST_BURST + 1]) <= admitted, posted
    assert posted[INGEST_BURST + 1 :] == [429]
    # Ingestion spent the ingest budget only: the same identity still reads.
    assert read.status_code in admitted, read.text


def test_a_caller_of_the_budgets_socket_without_the_hops_secret_is_refused(
    gateway: Gateway, client: httpx.Client
) -> None:
    sub, org = new_id("victim"), new_id("org")
    socket_path = gateway.prefix / "mss-budgets.sock"
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    proxied_before = len(gateway.backend.received)
    transport = httpx.HTTPTransport(uds=str(socket_path))
    with httpx.Client(base_url="http://gateway", transport=transport, timeout=10) as direct:
        answers = [
            direct.get(SERVED, headers={"X-Auth-Subject": sub, "X-Auth-Org": org, "X-MSS-Hop": "x"})
            for _ in range(USER_BURST + 2)
        ]

    assert {a.status_code for a in answers} == {403}
    assert_envelope(answers[0], 403, "FORBIDDEN")
    assert len(gateway.backend.received) == proxied_before
    # Nothing was counted: the victim's own budget is whole.
    victim = gateway.backend.valid(sub, org)
    statuses = [client.get(UNSERVED, headers=victim).status_code for _ in range(USER_BURST + 1)]
    assert statuses == [404] * (USER_BURST + 1)


def test_the_websocket_passes_both_hops_with_the_token_in_its_subprotocol(
    gateway: Gateway,
) -> None:
    sub, org = new_id("ws"), new_id("org")
    value = gateway.backend.valid(sub, org)["Authorization"].removeprefix("Bearer ")
    url = gateway.http.replace("http://", "ws://") + "/api/notifications/ws"

    with connect(
        url,
        subprotocols=[Subprotocol("bearer"), Subprotocol(value)],
        open_timeout=5,
        close_timeout=2,
    ) as ws:
        ws.send("ping")
        echoed = ws.recv(timeout=5)
    with pytest.raises(InvalidStatus) as refused:
        connect(
            url, subprotocols=[Subprotocol("bearer"), Subprotocol(token(sub, org))], open_timeout=5
        )

    assert echoed == "echo:ping"
    (seen,) = gateway.backend.requests_to("/api/notifications/ws")
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert headers["x-auth-subject"] == sub
    assert headers["upgrade"].lower() == "websocket"
    assert refused.value.response.status_code == 401


# --- production: plain HTTP only redirects -----------------------------------------------------


@pytest.fixture(scope="module")
def production() -> Iterator[Gateway]:
    with running_gateway(MSS_GATEWAY_HTTP_REDIRECT="1") as running:
        yield running


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_plain_http_is_redirected_to_the_same_host_and_path_over_https_with_308(
    production: Gateway, method: str
) -> None:
    http_port = production.http.rsplit(":", 1)[1]
    https_port = production.https.rsplit(":", 1)[1]
    headers = {"Host": f"gateway.example:{http_port}", **production.backend.valid("u", "o")}
    proxied_before = len(production.backend.received)

    response = httpx.request(
        method,
        f"{production.http}/api/organizations/x?limit=1&q=a%20b",
        headers=headers,
        content=b'{"name": "sent over plain HTTP"}' if method == "POST" else None,
        timeout=10,
    )

    assert response.status_code == 308, response.text
    assert (
        response.headers["location"]
        == f"https://gateway.example:{https_port}/api/organizations/x?limit=1&q=a%20b"
    )
    assert "strict-transport-security" not in response.headers
    assert_security_headers(response)
    # Nothing was proxied: no service saw the request.
    assert len(production.backend.received) == proxied_before


def test_plain_http_still_answers_the_health_probe_itself(production: Gateway) -> None:
    response = httpx.get(f"{production.http}/health", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_https_serves_the_api_with_hsts_when_plain_http_redirects(production: Gateway) -> None:
    headers = production.backend.valid(new_id("u"), new_id("o"))

    trust = ssl.create_default_context(cafile=str(production.prefix / "tls" / "dev-cert.pem"))

    response = httpx.get(f"{production.https}{SERVED}", headers=headers, verify=trust, timeout=10)

    assert response.status_code == 200, response.text
    assert "max-age=" in response.headers["strict-transport-security"]
    (seen,) = production.backend.requests_to(SERVED)
    assert {k.lower(): v for k, v in seen["headers"].items()}["x-forwarded-proto"] == "https"
