"""Gateway hardening, black box through NGINX: TLS + security headers, the token check of
minted tokens, revocation despite the introspection cache, rate limits and budgets that
forged tokens cannot spend, spoofed forwarding/identity headers, and unknown paths.

Tokens are minted with the dev signing key (the newest PEM under
`MSS_RUN_DIR/keys/signing/`, kid = file stem) exactly as identity makes them, for a random
user, session and organization, by the session fixture `minter` (support.TokenMinter),
which sets the session's Redis key (`session:{sid}`) itself and deletes it afterwards. A
minted user has its own `sub` and `org`, so its per-user and per-organization rate-limit
buckets are its own.

Environment: MSS_GATEWAY_URL (default http://127.0.0.1:8080), MSS_GATEWAY_HTTPS_URL
(default https://127.0.0.1:8443), MSS_GATEWAY_CA_BUNDLE (default the dev certificate
`MSS_RUN_DIR/nginx/tls/dev-cert.pem`), MSS_REDIS_URL (default redis://127.0.0.1:6379/0).

The budget tests flood the gateway with forged tokens (the platform's kid, an attacker's
key) from other loopback addresses (support.Flood: pipelined keep-alive connections, so the
flood outruns the limits however slow the client) while they probe a victim's real token.

The login-rate test is the LAST test of this file: it floods POST /api/auth/login from a
second loopback source address when it can (so the per-IP budget of 127.0.0.1, shared
with the rest of the run, is untouched) and waits until that address is served again.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from support import Flood, Minted, TokenMinter, forged_token, raw_request
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("MSS_RUN_DIR") or ROOT / ".run")
GATEWAY_URL = os.environ.get("MSS_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
HTTPS_URL = os.environ.get("MSS_GATEWAY_HTTPS_URL", "https://127.0.0.1:8443").rstrip("/")
CA_BUNDLE = Path(os.environ.get("MSS_GATEWAY_CA_BUNDLE") or RUN_DIR / "nginx/tls/dev-cert.pem")

TOKEN_TTL_S = 15 * 60

PROTECTED = "/api/organizations"
# Protected, routed to no service: the gateway checks the token, then answers 404 itself.
# 404 here = "authenticated"; no service's speed or state takes part.
UNSERVED_ROUTE = "/api/no-such-service"
CHEAP = UNSERVED_ROUTE
REVOCATION_BOUND_S = 5.0
AUDIT_DEADLINE_S = 10.0
LOGIN_RECOVERY_S = 10.0
MAX_BURST = 1000
SPOOFED_IP = "203.0.113.9"
# A second loopback address: Linux routes all of 127/8 to lo, so binding it as the source
# gives the gateway another $remote_addr (and another per-IP bucket).
BURST_SOURCE = "127.0.0.2"

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}
MIN_HSTS_MAX_AGE = 180 * 24 * 3600


# --- helpers ---------------------------------------------------------------------------


def assert_envelope(response: httpx.Response, status: int, code: str, path: str) -> None:
    """The response is the API error envelope with this status, code and path."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False, body
    assert body["code"] == code, body
    assert body["path"] == path, body
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["timestamp"]


def assert_security_headers(response: httpx.Response) -> None:
    """The gateway's security headers, a request id, and a Server header without version."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert response.headers.get("x-request-id")
    server = response.headers.get("server", "")
    assert not re.search(r"\d", server), f"Server header reveals a version: {server!r}"


def hsts_max_age(response: httpx.Response) -> int:
    """max-age of the Strict-Transport-Security header (fails when absent)."""
    value = response.headers.get("strict-transport-security")
    assert value, f"no Strict-Transport-Security on {response.status_code} over HTTPS"
    match = re.search(r"max-age=(\d+)", value)
    assert match, value
    return int(match.group(1))


Mint = Callable[..., Minted]


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gw() -> Iterator[httpx.Client]:
    """A plain HTTP client bound to the gateway."""
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def gw_tls() -> Iterator[httpx.Client]:
    """An HTTPS client bound to the gateway that trusts only the dev certificate."""
    if not CA_BUNDLE.is_file():
        pytest.fail(f"no gateway certificate at {CA_BUNDLE}: set MSS_GATEWAY_CA_BUNDLE")
    context = ssl.create_default_context(cafile=str(CA_BUNDLE))
    with httpx.Client(base_url=HTTPS_URL, timeout=30.0, verify=context) as http:
        yield http


@pytest.fixture(scope="module")
def sessions(minter: TokenMinter) -> redis.Redis:
    """The Redis holding `session:{sid}` keys."""
    return minter.sessions


@pytest.fixture(scope="module")
def mint(minter: TokenMinter) -> Mint:
    """Mints an access token for a new random user/session/org (super_admin of an MSS
    provider by default); `live=True` sets the session key. Overrides replace claims,
    `kid_override=` the header's kid. Every session key set is deleted at the end."""
    return minter.mint


# --- TLS and response headers ------------------------------------------------------------


def test_https_answers_with_hsts_over_http_1_1_with_the_dev_certificate(
    gw_tls: httpx.Client,
) -> None:
    response = gw_tls.get("/health")

    assert response.status_code == 200, response.text
    assert response.http_version == "HTTP/1.1"
    assert hsts_max_age(response) >= MIN_HSTS_MAX_AGE
    assert "includesubdomains" in response.headers["strict-transport-security"].lower()
    assert_security_headers(response)


def test_https_errors_carry_hsts_and_security_headers(gw_tls: httpx.Client) -> None:
    not_found = gw_tls.get("/internal/x")
    unauthenticated = gw_tls.get(PROTECTED)

    assert_envelope(not_found, 404, "NOT_FOUND", "/internal/x")
    assert_envelope(unauthenticated, 401, "AUTHENTICATION_REQUIRED", PROTECTED)
    for response in (not_found, unauthenticated):
        assert hsts_max_age(response) >= MIN_HSTS_MAX_AGE
        assert_security_headers(response)


def test_plain_http_sends_no_hsts(gw: httpx.Client) -> None:
    # RFC 6797 §7.2: HSTS over plain HTTP must be ignored, so the gateway sends none.
    assert "strict-transport-security" not in gw.get("/health").headers


def test_security_headers_on_a_service_success_and_on_gateway_errors(
    gw: httpx.Client, mint: Mint
) -> None:
    user = mint()
    success = gw.get(PROTECTED, params={"limit": 1}, headers=user.headers)
    unauthenticated = gw.get(PROTECTED)
    invalid = gw.get(PROTECTED, headers={"Authorization": "Bearer not-a-jwt"})
    not_found = gw.get("/metrics")

    assert success.status_code == 200, success.text
    assert success.json()["success"] is True
    assert_envelope(unauthenticated, 401, "AUTHENTICATION_REQUIRED", PROTECTED)
    assert_envelope(invalid, 401, "INVALID_TOKEN", PROTECTED)
    assert_envelope(not_found, 404, "NOT_FOUND", "/metrics")
    for response in (success, unauthenticated, invalid, not_found):
        assert_security_headers(response)


# --- the token check ------------------------------------------------------------------------


def test_minted_token_with_a_live_session_passes(gw: httpx.Client, mint: Mint) -> None:
    user = mint()

    response = gw.get(PROTECTED, params={"limit": 1}, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["data"], list)


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("expired", {"iat": -TOKEN_TTL_S - 120, "nbf": -TOKEN_TTL_S - 120, "exp": -120}),
        ("wrong_audience", {"aud": "some-other-platform"}),
        ("wrong_issuer", {"iss": "mss-impostor"}),
        ("unknown_kid", {"kid_override": "0000000000-deadbeef"}),
    ],
)
def test_minted_token_that_must_be_refused_is_a_401_envelope(
    gw: httpx.Client, mint: Mint, case: str, overrides: dict[str, Any]
) -> None:
    now = int(time.time())
    claims = {
        name: (now + value if name in {"iat", "nbf", "exp"} else value)
        for name, value in overrides.items()
    }
    # The session is live: only the claim or header under test is wrong.
    user = mint(**claims)

    response = gw.get(PROTECTED, headers=user.headers)

    assert_envelope(response, 401, "INVALID_TOKEN", PROTECTED)
    assert response.headers.get("www-authenticate", "").startswith("Bearer"), case
    assert_security_headers(response)


def test_a_revoked_session_is_refused_by_the_gateway_within_5s(
    gw: httpx.Client, mint: Mint, sessions: redis.Redis
) -> None:
    # No service answers UNSERVED_ROUTE, so only the gateway can refuse the token.
    assert_envelope(gw.get(UNSERVED_ROUTE), 401, "AUTHENTICATION_REQUIRED", UNSERVED_ROUTE)
    user = mint()
    warm = gw.get(UNSERVED_ROUTE, headers=user.headers)
    assert warm.status_code != 401, f"live session refused before revocation: {warm.text}"
    assert_envelope(warm, 404, "NOT_FOUND", UNSERVED_ROUTE)

    assert sessions.delete(f"session:{user.sid}") == 1
    revoked_at = time.monotonic()

    def probe() -> tuple[float, httpx.Response]:
        response = gw.get(UNSERVED_ROUTE, headers=user.headers)
        return time.monotonic() - revoked_at, response

    retrying = Retrying(
        stop=stop_after_delay(REVOCATION_BOUND_S),
        wait=wait_fixed(0.05),
        retry=retry_if_result(lambda result: result[1].status_code != 401),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    elapsed, response = retrying(probe)

    assert response.status_code == 401, (
        f"revoked session still accepted by the gateway {elapsed:.2f}s after its Redis key "
        f"was deleted (last answer {response.status_code}): the introspection cache outlives "
        f"{REVOCATION_BOUND_S:.0f}s"
    )
    assert elapsed <= REVOCATION_BOUND_S, f"refused only after {elapsed:.2f}s"
    assert_envelope(response, 401, "SESSION_REVOKED", UNSERVED_ROUTE)


# --- spoofed headers ----------------------------------------------------------------------


def test_spoofed_client_address_and_identity_never_reach_the_service(
    gw: httpx.Client, mint: Mint
) -> None:
    user = mint()
    spoofed_subject = str(uuid.uuid4())
    spoofed = {
        "X-Real-IP": SPOOFED_IP,
        "X-Forwarded-For": SPOOFED_IP,
        "X-Auth-Subject": spoofed_subject,
        "X-Auth-Org": str(uuid.uuid4()),
        "X-Auth-Role": "viewer",
    }
    name = f"e2e-spoof-{uuid.uuid4().hex[:12]}"

    created = gw.post(PROTECTED, json={"name": name}, headers={**user.headers, **spoofed})

    assert created.status_code == 201, created.text
    org_id = created.json()["data"]["id"]

    def audit_entry() -> dict[str, Any]:
        response = gw.get(
            "/api/audit/logs",
            params={"orgId": org_id, "action": "organization.created"},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["data"]
        assert len(entries) == 1, f"organization.created of {org_id} not audited yet"
        return entries[0]

    retrying = Retrying(
        stop=stop_after_delay(AUDIT_DEADLINE_S),
        wait=wait_exponential(multiplier=0.05, max=0.5),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    )
    entry = retrying(audit_entry)

    assert entry["ipAddress"] == "127.0.0.1", entry
    assert entry["userId"] == user.sub != spoofed_subject
    assert entry["resourceId"] == org_id


def test_identity_headers_without_a_token_are_still_401(gw: httpx.Client) -> None:
    spoofed = {
        "X-Auth-Subject": str(uuid.uuid4()),
        "X-Auth-Org": str(uuid.uuid4()),
        "X-Auth-Role": "super_admin",
        "X-Auth-Session": str(uuid.uuid4()),
        "X-Real-IP": SPOOFED_IP,
    }

    response = gw.get(PROTECTED, headers=spoofed)

    assert_envelope(response, 401, "AUTHENTICATION_REQUIRED", PROTECTED)


# --- unknown paths (the tokenless GETs are in test_gateway.py) ----------------------------


@pytest.mark.parametrize("path", ["/internal/x", "/metrics", "/"])
def test_unknown_path_stays_404_with_a_valid_token_and_any_method(
    gw: httpx.Client, mint: Mint, path: str
) -> None:
    user = mint()

    with_token = gw.get(path, headers=user.headers)
    posted = gw.post(path, json={}, headers=user.headers)

    assert_envelope(with_token, 404, "NOT_FOUND", path)
    assert_envelope(posted, 404, "NOT_FOUND", path)
    assert_security_headers(posted)


def test_unknown_api_path_is_401_without_a_token_and_404_with_one(
    gw: httpx.Client, mint: Mint
) -> None:
    path = "/api/no-such-service/x"

    assert_envelope(gw.get(path), 401, "AUTHENTICATION_REQUIRED", path)
    assert_envelope(gw.get(path, headers=mint().headers), 404, "NOT_FOUND", path)


# --- rate limits (the login test must stay LAST in this file) -------------------------------


def test_one_users_burst_is_limited_while_another_user_is_served(
    gw: httpx.Client, mint: Mint
) -> None:
    noisy, quiet = mint(), mint()

    # The per-user limit counts every protected route. A route the gateway answers at once
    # (no service behind it: 404) makes the burst outrun the limit however slow the
    # machine; a real service's own speed could keep one client under 50 r/s.
    limited: httpx.Response | None = None
    for _ in range(MAX_BURST):
        response = gw.get(CHEAP, headers=noisy.headers)
        if response.status_code == 429:
            limited = response
            break
        assert response.status_code == 404, response.text

    assert limited is not None, f"{MAX_BURST} requests of one user were never limited"
    assert_envelope(limited, 429, "RATE_LIMITED", CHEAP)
    assert int(limited.headers["retry-after"]) >= 1
    assert_security_headers(limited)
    other = gw.get(PROTECTED, params={"limit": 1}, headers=quiet.headers)
    assert other.status_code == 200, other.text


# --- budgets an attacker cannot spend (issue 11, point 3) -----------------------------------
# The per-user, per-organization and ingest budgets count only requests whose token the
# introspection endpoint accepted. Forged tokens (the platform's kid, an attacker's key)
# claiming a victim's `sub` or `org` are flooded from other loopback addresses while the
# victim's own token is probed: a victim's request must never be the one answered 429.
# The floods run while the victim is probed: a budget recovers one request per 1/rate s, so
# a probe after a flood has ended would pass whether or not the flood spent the budget.

VICTIM_PROBES = 15
PROBE_INTERVAL_S = 0.01
# Several attacker addresses: each has its own per-IP ceiling (500 r/s), and the ingest
# budget (1000 r/s) outlasts what one address may send.
INGEST_ATTACKERS = tuple(f"127.0.4.{n}" for n in range(1, 7))
RANDOM_SUBJECT_ATTACKER = "127.0.4.100"
USER_BURST, ORG_BURST, INGEST_BURST, IP_BURST = 100, 400, 2000, 1000


def _needs_a_local_plain_gateway() -> None:
    parts = urlsplit(GATEWAY_URL)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        pytest.skip("floods from other loopback addresses need the gateway on http://127.0.0.1")


def _probe(send: Callable[[], httpx.Response]) -> list[httpx.Response]:
    answers = []
    for _ in range(VICTIM_PROBES):
        answers.append(send())
        time.sleep(PROBE_INTERVAL_S)
    return answers


def test_forged_tokens_with_a_victims_sub_never_spend_its_budget(
    gw: httpx.Client, minter: TokenMinter
) -> None:
    _needs_a_local_plain_gateway()
    victim = minter.mint()
    forged = forged_token(minter.kid, sub=victim.sub)
    request = raw_request("GET", CHEAP, forged)

    with Flood(lambda _: request, [BURST_SOURCE], rate=400) as flood:
        flood.wait_until(2 * USER_BURST + 50)
        answers = _probe(lambda: gw.get(CHEAP, headers=victim.headers))

    assert [a.status_code for a in answers] == [404] * VICTIM_PROBES, [
        a.text for a in answers if a.status_code != 404
    ]
    # Refused at the token check, none of them counted against any budget but the address's.
    assert set(flood.statuses) == {401}, flood.statuses


def test_forged_tokens_claiming_a_victims_organization_never_spend_its_budget(
    gw: httpx.Client, minter: TokenMinter
) -> None:
    _needs_a_local_plain_gateway()
    victim = minter.mint()
    # Random subjects, so no per-user budget slows the flood down: 64 tokens in turn.
    pool = [raw_request("GET", CHEAP, forged_token(minter.kid, org=victim.org)) for _ in range(64)]

    with Flood(lambda i: pool[i % len(pool)], [BURST_SOURCE], rate=800) as flood:
        flood.wait_until(ORG_BURST + 200)
        answers = _probe(lambda: gw.get(CHEAP, headers=victim.headers))

    assert [a.status_code for a in answers] == [404] * VICTIM_PROBES, [
        a.text for a in answers if a.status_code != 404
    ]
    assert set(flood.statuses) == {401}, flood.statuses


def test_forged_alerts_claiming_a_victims_organization_never_spend_its_ingest_budget(
    gw: httpx.Client, minter: TokenMinter
) -> None:
    _needs_a_local_plain_gateway()
    victim = minter.mint()
    request = raw_request("POST", "/api/alerts", forged_token(minter.kid, org=victim.org), b"{}")

    # 6 addresses x up to 800 r/s: above the ingest budget (1000 r/s) all together.
    with Flood(lambda _: request, INGEST_ATTACKERS, rate=800) as flood:
        flood.wait_until(2 * INGEST_BURST)
        answers = _probe(lambda: gw.post("/api/alerts", json={}, headers=victim.headers))

    statuses = [a.status_code for a in answers]
    # Whatever answers (the security service, or the gateway's 404 without it): never 429,
    # never 401 (the victim's token is real).
    assert 429 not in statuses, [a.text for a in answers]
    assert 401 not in statuses, [a.text for a in answers]
    assert set(flood.statuses) == {401}, flood.statuses


def test_forged_tokens_with_random_subjects_from_one_address_meet_the_address_ceiling(
    minter: TokenMinter,
) -> None:
    _needs_a_local_plain_gateway()
    # 200 random subjects and organizations, 20 requests each: no budget of a user or an
    # organization could stop this flood, only the per-address ceiling (500 r/s, burst 1000)
    # in front of the token check can. Each token is refused by the introspection endpoint
    # once and then from the gateway's cache, so the flood outruns the ceiling even on a
    # busy machine (the endpoint alone answers a few hundred uncached checks a second here).
    pool = [raw_request("GET", CHEAP, forged_token(minter.kid)) for _ in range(200)]

    with Flood(
        lambda i: pool[i % len(pool)], [RANDOM_SUBJECT_ATTACKER], limit=20 * len(pool)
    ) as flood:
        limited = flood.wait_for_status(429)

    assert limited, f"{flood.answered} forged tokens from one address were never limited"
    assert set(flood.statuses) <= {401, 429}, flood.statuses
    assert flood.statuses[401] >= IP_BURST, flood.statuses
    answer = flood.first[429]
    body = json.loads(answer.body)
    assert body["code"] == "RATE_LIMITED", body
    assert body["path"] == CHEAP, body
    assert int(answer.headers["retry-after"]) >= 1
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, name


def _failed_login(client: httpx.Client) -> httpx.Response:
    body = {"email": f"nobody-{uuid.uuid4().hex[:12]}@example.invalid", "password": "x" * 16}
    return client.post("/api/auth/login", json=body)


@dataclass(frozen=True)
class Flooder:
    client: httpx.Client
    separate_source: bool


@pytest.fixture
def login_flooder() -> Iterator[Flooder]:
    """A gateway client with its own source address when the gateway is on 127.0.0.1 (the
    limit is per client IP; the rest of the run logs in from 127.0.0.1). Afterwards, waits
    (bounded) until that address may log in again, so later test files are unaffected."""
    local = BURST_SOURCE if urlsplit(GATEWAY_URL).hostname == "127.0.0.1" else None
    transport = httpx.HTTPTransport(local_address=local) if local else None
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0, transport=transport) as http:
        yield Flooder(client=http, separate_source=local is not None)
        retrying = Retrying(
            stop=stop_after_delay(LOGIN_RECOVERY_S),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_result(lambda response: response.status_code == 429),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        probe: httpx.Response = retrying(_failed_login, http)
        assert probe.status_code != 429, f"login still limited {LOGIN_RECOVERY_S:.0f}s later"


def test_rapid_failed_logins_from_one_ip_are_limited_last_in_file(
    login_flooder: Flooder, gw: httpx.Client
) -> None:
    limited: httpx.Response | None = None
    for _ in range(MAX_BURST):
        response = _failed_login(login_flooder.client)
        if response.status_code == 429:
            limited = response
            break
        assert_envelope(response, 401, "INVALID_CREDENTIALS", "/api/auth/login")

    assert limited is not None, f"{MAX_BURST} failed logins from one IP were never limited"
    assert_envelope(limited, 429, "RATE_LIMITED", "/api/auth/login")
    assert int(limited.headers["retry-after"]) >= 1
    assert_security_headers(limited)
    if login_flooder.separate_source:
        # Another client address (127.0.0.1) is not limited by this one's flood.
        assert_envelope(_failed_login(gw), 401, "INVALID_CREDENTIALS", "/api/auth/login")


def test_alert_ingestion_has_its_own_larger_budget(gw: httpx.Client, mint: Mint) -> None:
    """One integration's token posting alerts is not held to a person's per-user limit."""
    siem = mint()
    for _ in range(MAX_BURST):
        posted = gw.post("/api/alerts", json={}, headers=siem.headers)
        # Whatever answers (the security service, or the gateway's 404 without it), never 429.
        assert posted.status_code != 429, posted.text
    # The reads reach the security service; a real list on a busy machine can take longer
    # than the per-user rate allows 16 readers, so each read is one the service refuses at
    # once (limit=0, a 422) and 16 at a time outrun any refill of the budget.
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(
            pool.map(
                lambda _: gw.get("/api/alerts", params={"limit": "0"}, headers=siem.headers),
                range(MAX_BURST // 2),
            )
        )
    assert {answer.status_code for answer in answers} <= {422, 429}
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited, f"{len(answers)} reads of alerts by one user were never limited"
    listed = limited[0]
    assert_envelope(listed, 429, "RATE_LIMITED", "/api/alerts")
