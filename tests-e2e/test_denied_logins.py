"""Refused logins and second factors are audited (ASVS V16.3), aggregated so that a flood
of them cannot flood the audit (issue 11, point 4, identity's part).

30 wrong passwords for one account (5 answered 401, the rest 423 once it is locked) and
30 wrong MFA codes for another (5 answered 401, the rest 429 once throttled) become, in
each account's organization, a few `access.denied` entries per kind of answer (the first
refusal at once, the rest when the journal's 10 s window closes) whose counts are exactly
the refusals answered; none names the password, the code or the mfaToken.

The attempts come from loopback addresses of this file's own (127.0.7.x), 10 per address:
within the gateway's per-IP burst on public auth routes and within identity's per-address
budget of failed logins (scripts/test: 20 per 10 s), so every attempt reaches identity
and is answered by it, and no other test's budget is spent.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from support import Account, assert_data, eventually, source_client

LOGIN = "/api/auth/login"
COMPLETE = "/api/auth/mfa/complete"
REFUSALS = 30
PER_ADDRESS = 10
WRONG_PASSWORD = "amber walrus counts seven teacups"
STEP_S = 30
# The journal's window (MSS_JOURNAL_WINDOW_S) closes, then the relay, the bus and the
# audit worker.
JOURNAL_WINDOW_S = float(os.environ.get("MSS_JOURNAL_WINDOW_S", "10"))
AUDIT_DEADLINE_S = 3 * JOURNAL_WINDOW_S
_ADDRESSES = (f"127.0.7.{n}" for n in itertools.count(10))


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    """Enough clients, each from an address no other test uses, for REFUSALS attempts."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(source_client(next(_ADDRESSES)))
            for _ in range(REFUSALS // PER_ADDRESS)
        ]


@dataclass(frozen=True)
class Flood:
    answered: Counter[tuple[int, str]]  # (status, code) → how many times
    seconds: float

    @property
    def windows(self) -> int:
        """How many journal windows the flood may have opened or run into."""
        return 1 + math.ceil(self.seconds / JOURNAL_WINDOW_S)


def _denied(api: httpx.Client, actor: Account, action: str) -> list[dict[str, Any]]:
    response = api.get(
        "/api/audit/logs",
        params={
            "orgId": actor.org_id,
            "userId": actor.id,
            "action": "access.denied",
            "limit": "100",
        },
    )
    entries: list[dict[str, Any]] = assert_data(response)
    return [e for e in entries if e["details"]["data"]["action"] == action]


def _audited_counts(entries: list[dict[str, Any]]) -> Counter[tuple[int, str]]:
    counts: Counter[tuple[int, str]] = Counter()
    for entry in entries:
        data = entry["details"]["data"]
        counts[(data["status"], data["code"])] += data["count"]
    return counts


def _flood(attempt: Callable[[httpx.Client], httpx.Response], clients: list[httpx.Client]) -> Flood:
    """REFUSALS attempts, PER_ADDRESS in a row from each client; what identity answered."""
    answered: Counter[tuple[int, str]] = Counter()
    started = time.monotonic()
    for client in clients:
        for _ in range(PER_ADDRESS):
            response = attempt(client)
            assert response.status_code >= 400, response.text
            answered[(response.status_code, response.json()["code"])] += 1
    return Flood(answered, time.monotonic() - started)


def _assert_aggregated(
    api: httpx.Client, actor: Account, action: str, flood: Flood
) -> list[dict[str, Any]]:
    """The audit holds exactly the refusals answered, each kind in as few entries as the
    journal promises: the leading refusal, then one per window the flood lasted into
    (a loaded machine stretches the flood over several windows, never the count)."""
    answered = flood.answered
    for attempt in eventually(AUDIT_DEADLINE_S, 0.5):
        with attempt:
            entries = _denied(api, actor, action)
            assert _audited_counts(entries) == answered, (entries, answered)
    by_kind: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        data = entry["details"]["data"]
        by_kind[(data["status"], data["code"])].append(entry)
    for (status, code), found in by_kind.items():
        assert 1 <= len(found) <= flood.windows + 1, (flood.seconds, found)
        for entry in found:
            assert entry["success"] is False, entry
            assert entry["organizationId"] == actor.org_id, entry
            assert entry["userId"] == actor.id, entry
            assert entry["ipAddress"], entry
            assert entry["errorMessage"].startswith(f"{status} {code} on {action}: "), entry
            assert entry["details"]["data"]["subject"] is None, "a known actor needs none"
    # Aggregated, not one entry per refusal.
    assert len(entries) < sum(answered.values()), entries
    return entries


def test_a_flood_of_wrong_passwords_is_a_few_denied_entries_with_the_count(
    api: httpx.Client,
    clients: list[httpx.Client],
    create_organization: Any,
    make_account: Any,
) -> None:
    org = create_organization("e2e-denied-logins")
    victim: Account = make_account("basic_user", org["id"])

    wrong = {"email": victim.email, "password": WRONG_PASSWORD}
    flood = _flood(lambda client: client.post(LOGIN, json=wrong), clients)
    # Wrong passwords until the account locks, then the lock's answer: identity answered
    # every attempt (neither the gateway's limit nor the address budget came first).
    assert set(flood.answered) == {(401, "INVALID_CREDENTIALS"), (423, "ACCOUNT_LOCKED")}, flood

    entries = _assert_aggregated(api, victim, f"POST {LOGIN}", flood)
    for entry in entries:
        assert entry["details"]["data"]["actorRole"] == "basic_user", entry
    assert WRONG_PASSWORD not in str(entries)


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A 6-digit code that is valid in none of the steps the server accepts now."""
    now = time.time()
    valid = {totp.at(now + offset) for offset in (-2 * STEP_S, -STEP_S, 0, STEP_S, 2 * STEP_S)}
    return next(code for code in (f"{n:06d}" for n in range(100)) if code not in valid)


def test_a_flood_of_wrong_mfa_codes_is_a_few_denied_entries_with_the_count(
    api: httpx.Client,
    gateway: httpx.Client,
    clients: list[httpx.Client],
    create_organization: Any,
    make_account: Any,
) -> None:
    org = create_organization("e2e-denied-mfa")
    account: Account = make_account("basic_user", org["id"])
    setup = assert_data(gateway.post("/api/auth/mfa/setup", headers=account.headers))
    totp = pyotp.TOTP(setup["secret"], interval=STEP_S)
    enabled = gateway.post(
        "/api/auth/mfa/enable", json={"code": totp.now()}, headers=account.headers
    )
    backup_codes: list[str] = assert_data(enabled)["backupCodes"]
    challenge = assert_data(
        clients[0].post(LOGIN, json={"email": account.email, "password": account.password})
    )
    mfa_token: str = challenge["mfaToken"]

    wrong = _wrong_code(totp)
    attempt = {"mfaToken": mfa_token, "code": wrong}
    flood = _flood(lambda client: client.post(COMPLETE, json=attempt), clients)
    # Wrong codes until the user is throttled, then identity's 429 (not the gateway's:
    # no address sent more than its burst).
    assert set(flood.answered) == {(401, "INVALID_MFA_CODE"), (429, "RATE_LIMITED")}, flood

    entries = _assert_aggregated(api, account, f"POST {COMPLETE}", flood)
    text = str(entries)
    for secret in (mfa_token, setup["secret"], *backup_codes):
        assert secret not in text, "an audit entry names a secret"
    # Six digits may occur in any timestamp or id: the code is no value of the entries.
    assert wrong not in set(_strings(entries)), "an audit entry names the code tried"


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys and leaves."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
