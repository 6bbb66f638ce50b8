"""Helpers the end-to-end tests share: bearer headers, polling, mailed tokens, logins."""

from __future__ import annotations

import email
import mailbox
import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

ROOT = Path(__file__).resolve().parents[1]
LOGIN_DEADLINE_S = 30.0
# A passphrase the strength check accepts; e2e accounts are throwaway.
ACCOUNT_PASSWORD = "violet tractor sings under nine lanterns"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def eventually(deadline_s: float, interval_s: float = 0.1) -> Retrying:
    """`for attempt in eventually(5): with attempt: assert ...` — retried until the deadline."""
    return Retrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    )


def mail_dir() -> Path:
    run_dir = Path(os.environ.get("MSS_RUN_DIR", str(ROOT / ".run")))
    return run_dir / "mail"


def mails_to(recipient: str) -> list[mailbox.MaildirMessage]:
    """Every mail the local SMTP sink (its Maildir) holds for `recipient`."""
    return [
        message
        for message in mailbox.Maildir(mail_dir(), create=False)
        if recipient in (message.get("To") or "")
    ]


def mailed_tokens(recipient: str) -> list[str]:
    """Every `token=` mailed to `recipient` so far, oldest first."""
    found: list[tuple[float, str]] = []
    for message in mails_to(recipient):
        parsed = email.message_from_bytes(message.as_bytes())
        body = parsed.get_payload(decode=True) or b""
        if isinstance(body, bytes):
            tokens = re.findall(r"token=([^\s&]+)", body.decode())
            found.extend((message.get_date(), unquote(token)) for token in tokens)
    return [token for _, token in sorted(found, key=lambda item: item[0])]


def mailed_token(recipient: str, *, not_in: frozenset[str] = frozenset()) -> str:
    """The newest `token=` mailed to `recipient` that is not in `not_in` (waits up to 15 s)."""
    for attempt in eventually(15, 0.2):
        with attempt:
            fresh = [t for t in mailed_tokens(recipient) if t not in not_in]
            assert fresh, f"no new mail for {recipient} yet"
    return fresh[-1]


def login(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    """POST /api/auth/login, waiting out the gateway's per-IP login limit (429)."""
    retrying = Retrying(
        stop=stop_after_delay(LOGIN_DEADLINE_S),
        wait=wait_exponential(multiplier=0.25, max=2.0),
        retry=retry_if_result(_rate_limited),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    response: httpx.Response = retrying(client.post, "/api/auth/login", json=body)
    return response


def _rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 429


ACCOUNT_PASSWORD = "violet tractor sings under nine lanterns"


@dataclass
class Account:
    """A user created through the API, who accepted the invitation and logged in."""

    id: str
    email: str
    password: str
    org_id: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


CUSTOMER_ROLE_NAMES = ("admin", "report_viewer", "request_user", "basic_user")
PROVIDER_ROLE_NAMES = ("super_admin", "account_manager", "security_analyst", "technician")


@dataclass
class TenantCast:
    """Two customer orgs and one logged-in account per role (the `tenant_cast` fixture).

    `accounts` holds every customer role in `org_a` and every provider role in the
    provider org; `admin_b` is the customer admin of `org_b`.
    """

    org_a: dict[str, Any]
    org_b: dict[str, Any]
    provider_org_id: str
    accounts: dict[str, Account]
    admin_b: Account

    def home_org(self, role: str) -> str:
        """The org an account of `role` belongs to (org A for customer roles)."""
        return self.provider_org_id if role in PROVIDER_ROLE_NAMES else self.org_a["id"]


def error_code(response: httpx.Response) -> str | None:
    """The envelope's `code` of an error answer (API.md "Envelope"), else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("success") is not False:
        return None
    code = body.get("code")
    return code if isinstance(code, str) else None


# --- error envelopes, source addresses, public auth routes ------------------------------

GATEWAY_URL = os.environ.get("MSS_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")


def assert_error(
    response: httpx.Response, status: int, code: str, path: str | None = None
) -> dict[str, Any]:
    """The API error envelope (API.md "Envelope") with this status and code; returns it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["success"] is False, body
    assert body["code"] == code, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    assert body["timestamp"], body
    if path is not None:
        assert body["path"] == path, body
    assert "data" not in body, body
    return body


def assert_data(response: httpx.Response, status: int = 200) -> Any:
    """The success envelope with this status; returns its `data`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    assert "data" in body, body
    return body["data"]


@contextmanager
def source_client(address: str) -> Iterator[httpx.Client]:
    """A gateway client sending from another loopback address (its own per-IP login budget)
    when the gateway listens on 127.0.0.1; a plain client otherwise."""
    local = address if urlsplit(GATEWAY_URL).hostname == "127.0.0.1" else None
    transport = httpx.HTTPTransport(local_address=local) if local else None
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0, transport=transport) as http:
        yield http


def public_post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST to a public auth route, waiting out the gateway's per-IP limit (429). Not for
    routes whose service answers 429 itself (`/api/auth/mfa/complete`)."""
    retrying = Retrying(
        stop=stop_after_delay(LOGIN_DEADLINE_S),
        wait=wait_exponential(multiplier=0.25, max=2.0),
        retry=retry_if_result(_rate_limited),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    response: httpx.Response = retrying(client.post, path, json=body)
    return response


def api_key_headers(
    api: httpx.Client, client: httpx.Client, org_id: str, permissions: list[str], name: str
) -> dict[str, str]:
    """An integration's headers: an API key for `org_id` created by the e2e super admin
    (`api`), exchanged for its access token from `client`'s address."""
    body = {"organizationId": org_id, "name": name, "permissions": permissions}
    key = assert_data(api.post("/api/api-keys", json=body), 201)["key"]
    token = assert_data(public_post(client, "/api/auth/token", {"apiKey": key}))["accessToken"]
    return bearer(token)


def invite_user(
    api: httpx.Client, org_id: str, role: str, *, address: str | None = None
) -> tuple[dict[str, Any], str]:
    """Invite a user as the super admin (`api`); returns the new user and their address.
    At once, even into an organization created a moment ago (no retry)."""
    address = address or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    body = {
        "organizationId": org_id,
        "email": address,
        "firstName": "E2e",
        "lastName": role.title().replace("_", ""),
        "role": role,
    }
    invited = api.post("/api/users", json=body)
    user: dict[str, Any] = assert_data(invited, 201)
    return user, address


# --- minted access tokens (act as any role of any organization without a login) ---------

TOKEN_ISSUER = "mss-identity"
TOKEN_AUDIENCE = "mss-platform"
TOKEN_TTL_S = 15 * 60
SESSION_TTL_S = 15 * 60 + 30
REDIS_URL = os.environ.get("MSS_REDIS_URL", "redis://127.0.0.1:6379/0")


def run_dir() -> Path:
    """MSS_RUN_DIR, default `.run/` at the repository root."""
    return Path(os.environ.get("MSS_RUN_DIR") or ROOT / ".run")


@dataclass(frozen=True)
class Minted:
    """A token minted with the dev key, and whose session it belongs to."""

    token: str
    sub: str
    sid: str
    org: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


class TokenMinter:
    """Mints access tokens exactly as identity does (ES256, the active dev signing key = the
    newest PEM under `MSS_RUN_DIR/keys/signing/`, kid = file stem) and marks their session
    live in Redis (`session:{sid}` → sub), so the gateway and the services accept them.

    `mint()` makes a new random user/session/org, super_admin of an MSS provider by
    default; claims given as keywords replace those (e.g. `org=<id>, orgType="customer",
    role="admin"`), `kid_override=` replaces the header's kid, `live=False` leaves the
    session key unset. `close()` deletes every session key set and closes Redis.
    """

    def __init__(self, signing_dir: Path | None = None, redis_url: str = REDIS_URL) -> None:
        directory = signing_dir or run_dir() / "keys" / "signing"
        files = sorted(directory.glob("*.pem"))
        if not files:
            raise FileNotFoundError(f"no dev signing key under {directory}: run scripts/up")
        key = serialization.load_pem_private_key(files[-1].read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self.kid: str = files[-1].stem
        self.key = key
        self.sessions = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._created: list[str] = []

    def mint(self, *, live: bool = True, kid_override: str | None = None, **claims: Any) -> Minted:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "org": str(uuid.uuid4()),
            "orgType": "mss_provider",
            "role": "super_admin",
            "amr": ["pwd"],
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_TTL_S,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        token = jwt.encode(
            body,
            self.key,
            algorithm="ES256",
            headers={"kid": kid_override or self.kid, "typ": "at+jwt"},
        )
        if live:
            name = f"session:{body['sid']}"
            self.sessions.set(name, str(body["sub"]), ex=SESSION_TTL_S)
            self._created.append(name)
        return Minted(token=token, sub=str(body["sub"]), sid=str(body["sid"]), org=body["org"])

    def __call__(self, **kwargs: Any) -> Minted:
        return self.mint(**kwargs)

    def customer(self, org_id: str, role: str = "admin", **claims: Any) -> Minted:
        """A token of a (fresh, random) user holding customer `role` in org `org_id`."""
        return self.mint(org=org_id, orgType="customer", role=role, **claims)

    def close(self) -> None:
        if self._created:
            self.sessions.delete(*self._created)
            self._created.clear()
        self.sessions.close()


# --- floods: many requests fast, from other client addresses -----------------------------

# NGINX closes a keep-alive connection after 1000 requests (keepalive_requests).
_REQUESTS_PER_CONNECTION = 900
_MAX_BATCH = 20
# A paced flood sends about this much of its rate at once: an even stream, not bursts with
# quiet gaps in which a rate limit would recover.
_PACED_BATCH_S = 0.002


_ATTACKER_KEY = ec.generate_private_key(ec.SECP256R1())


def forged_token(kid: str, **claims: Any) -> str:
    """A well-formed access token for `claims` (random sub/sid/org unless given), with the
    platform's `kid` but signed by a key of the attacker's: what anyone without the
    signing key can make."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "orgType": "mss_provider",
        "role": "super_admin",
        "amr": ["pwd"],
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_TTL_S,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(body, _ATTACKER_KEY, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})


def raw_request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request with a bearer token, as bytes for a pipelined connection."""
    host = urlsplit(GATEWAY_URL).netloc
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Flood:
    """Requests sent as fast as NGINX answers them (pipelined on keep-alive connections, one
    thread per source address), optionally paced to `rate` requests/s per source, until
    the context exits. A Python client loop is far slower than the gateway: pipelining
    lets the flood outrun the rate limits however slow this machine is.

    `make(i)` gives the bytes of the i-th request of a connection. `statuses` counts the
    answers; `first` keeps the first answer of each status. Only for a plain-HTTP gateway
    on 127.0.0.1 (the sources are other loopback addresses)."""

    def __init__(
        self,
        make: Callable[[int], bytes],
        sources: Sequence[str],
        *,
        rate: float | None = None,
        limit: int | None = None,
    ) -> None:
        parts = urlsplit(GATEWAY_URL)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._make = make
        self._rate = rate
        self._limit = limit
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Notified at every answer, error and thread end: waiters wake on the event, no polling.
        self._changed = threading.Condition(self._lock)
        self._finished = 0  # threads whose connections ended
        self._threads = [
            threading.Thread(target=self._run, args=(source,), daemon=True) for source in sources
        ]
        self.statuses: Counter[int] = Counter()
        self.first: dict[int, RawResponse] = {}
        self.errors: list[BaseException] = []

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not self.errors, f"the flood failed: {self.errors[0]!r}"

    @property
    def answered(self) -> int:
        with self._lock:
            return sum(self.statuses.values())

    def wait_until(self, answered: int, timeout_s: float = 30.0) -> None:
        """Blocks until the flood has had `answered` answers (fails after timeout_s)."""
        with self._changed:
            reached = self._changed.wait_for(
                lambda: self.errors or sum(self.statuses.values()) >= answered, timeout_s
            )
            assert not self.errors, f"the flood failed: {self.errors[0]!r}"
            assert reached, f"flood reached {sum(self.statuses.values())}/{answered}"

    def wait_for_status(self, status: int, timeout_s: float = 30.0) -> bool:
        """Blocks until an answer has `status` (True), the flood ends or timeout_s (False)."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.statuses[status] > 0 or bool(self.errors) or self._ended(),
                timeout_s,
            )
            return self.statuses[status] > 0

    def _ended(self) -> bool:
        return self._finished == len(self._threads)

    def _run(self, source: str) -> None:
        sent = 0
        try:
            while not self._stop.is_set() and (self._limit is None or sent < self._limit):
                sent += self._connection(source, sent)
        except BaseException as error:  # reported by __exit__ / wait_until
            self.errors.append(error)
        finally:
            with self._changed:
                self._finished += 1
                self._changed.notify_all()

    def _connection(self, source: str, sent: int) -> int:
        """One keep-alive connection: batches of pipelined requests; returns how many."""
        done = 0
        batch = (
            _MAX_BATCH
            if not self._rate
            else max(1, min(_MAX_BATCH, int(self._rate * _PACED_BATCH_S)))
        )
        with socket.create_connection(self._address, timeout=10, source_address=(source, 0)) as s:
            reader = s.makefile("rb")
            while done < _REQUESTS_PER_CONNECTION and not self._stop.is_set():
                count = batch
                if self._limit is not None:
                    count = min(count, self._limit - sent - done)
                    if count <= 0:
                        break
                started = time.monotonic()
                s.sendall(b"".join(self._make(sent + done + i) for i in range(count)))
                for _ in range(count):
                    self._record(_read_response(reader))
                done += count
                if self._rate:
                    time.sleep(max(0.0, count / self._rate - (time.monotonic() - started)))
        return done

    def _record(self, response: RawResponse) -> None:
        with self._changed:
            self.statuses[response.status] += 1
            self.first.setdefault(response.status, response)
            self._changed.notify_all()


def _read_response(reader: Any) -> RawResponse:
    """One HTTP/1.1 response with a Content-Length body (what NGINX answers here)."""
    status_line = reader.readline()
    if not status_line:
        raise ConnectionError("the gateway closed the connection mid-batch")
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return RawResponse(status=status, headers=headers, body=body)
