"""Hygiene, black box through the gateway (issue 11, point 12): error messages name values,
not Python reprs, and fit what was asked; settings take strict types; a technician grant
has a maximum lifetime; every user edits its own names.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from support import (
    Account,
    api_key_headers,
    assert_data,
    assert_error,
    eventually,
    invite_user,
    login,
    source_client,
)

USERS = "/api/users"
COMPLETE = "/api/auth/mfa/complete"
STEP_S = 30
# A technician grant lives 90 days at most (docs/api.md, "Behaviour decided here").
GRANT_MAXIMUM = timedelta(days=90)


@pytest.fixture(scope="module")
def org(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-hygiene")
    return organization


@pytest.fixture(scope="module")
def settings_org(create_organization: Any) -> dict[str, Any]:
    """An organization of its own: were a value accepted, no other test would feel it."""
    organization: dict[str, Any] = create_organization("e2e-hygiene-settings")
    return organization


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """Logins and exchanges from 127.0.6.3: a per-IP budget of this file's own."""
    with source_client("127.0.6.3") as http:
        yield http


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- error messages ---------------------------------------------------------------------------


def test_validation_messages_name_enum_values_never_python_reprs(
    api: httpx.Client, org: dict[str, Any]
) -> None:
    user, _ = invite_user(api, org["id"], "basic_user")
    user_path = f"{USERS}/{user['id']}"

    status = assert_error(api.put(user_path, json={"status": "invited"}), 422, "VALIDATION_ERROR")
    kind = assert_error(
        api.post("/api/organizations", json={"name": f"e2e-{uuid.uuid4().hex}", "type": "x"}),
        422,
        "VALIDATION_ERROR",
    )

    for body, field, values in (
        (status, "status", ("active", "inactive")),
        (kind, "type", ("customer",)),
    ):
        message = body["details"][field]
        assert "<" not in message, body
        assert "Status." not in message, body
        assert "Type." not in message, body
        for value in values:
            assert value in message, body


def test_an_api_key_token_on_me_is_told_it_is_not_a_user(
    api: httpx.Client, client: httpx.Client, org: dict[str, Any]
) -> None:
    headers = api_key_headers(api, client, org["id"], ["users:read"], "e2e-me")

    response = client.get("/api/auth/me", headers=headers)

    refused = assert_error(response, 403, "FORBIDDEN", "/api/auth/me")
    assert "email or password" not in refused["error"], refused
    assert "API key" in refused["error"], refused


def test_a_reused_mfa_token_is_refused_as_an_mfa_token(
    gateway: httpx.Client, client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("basic_user", org["id"])
    secret = assert_data(gateway.post("/api/auth/mfa/setup", headers=account.headers))["secret"]
    totp = pyotp.TOTP(secret, interval=STEP_S)
    assert_data(
        gateway.post("/api/auth/mfa/enable", json={"code": totp.now()}, headers=account.headers)
    )
    challenge = assert_data(login(client, {"email": account.email, "password": account.password}))
    mfa_token = challenge["mfaToken"]
    code = totp.at(time.time() + STEP_S)
    assert_data(client.post(COMPLETE, json={"mfaToken": mfa_token, "code": code}))

    reused = client.post(COMPLETE, json={"mfaToken": mfa_token, "code": code})

    refused = assert_error(reused, 401, "INVALID_TOKEN", COMPLETE)
    assert "refresh" not in refused["error"].lower(), refused
    assert "MFA token" in refused["error"], refused


# --- strict organization settings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mfaRequired", "yes"),
        ("mfaRequired", "on"),
        ("mfaRequired", 1),
        ("sessionIdleMinutes", "15"),
        ("notificationDefaults.email", "off"),
    ],
)
def test_organization_settings_refuse_values_of_another_type(
    api: httpx.Client, settings_org: dict[str, Any], field: str, value: Any
) -> None:
    path = f"/api/organizations/{settings_org['id']}/settings"
    before = assert_data(api.get(path))
    head, _, tail = field.partition(".")
    body: dict[str, Any] = {head: {tail: value}} if tail else {head: value}

    refused = assert_error(api.put(path, json=body), 422, "VALIDATION_ERROR", path)

    assert field in refused["details"], refused
    assert assert_data(api.get(path)) == before


# --- technician grants: a documented maximum lifetime ----------------------------------------


def test_a_technician_grant_cannot_outlive_the_documented_maximum(
    api: httpx.Client, make_account: Any, provider_org_id: str, org: dict[str, Any]
) -> None:
    technician: Account = make_account("technician", provider_org_id)
    path = f"/api/organizations/{org['id']}/technician-access"

    def grant(expires_at: datetime) -> httpx.Response:
        body = {
            "technicianId": technician.id,
            "accessLevel": "read_only",
            "expiresAt": _iso(expires_at),
            "allowedServices": ["ssh"],
        }
        # The organization service learns of the technician from identity's events.
        for attempt in eventually(15, 0.2):
            with attempt:
                response = api.post(path, json=body)
                details = response.json().get("details") or {}
                assert not (response.status_code == 422 and "technicianId" in details), details
        return response

    now = datetime.now(UTC)
    for too_late in (datetime(2099, 1, 1, tzinfo=UTC), now + GRANT_MAXIMUM + timedelta(hours=1)):
        refused = assert_error(grant(too_late), 422, "VALIDATION_ERROR", path)
        assert "expiresAt" in refused["details"], refused
    granted = assert_data(grant(now + GRANT_MAXIMUM - timedelta(hours=1)), 201)
    assert granted["technicianId"] == technician.id


# --- every user edits its own profile ---------------------------------------------------------


def test_a_basic_user_edits_its_own_names_and_nothing_else(
    api: httpx.Client, gateway: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("basic_user", org["id"])
    colleague, _ = invite_user(api, org["id"], "basic_user")
    own = f"{USERS}/{account.id}"

    renamed = gateway.put(
        own, json={"firstName": "Grace", "lastName": "Hopper"}, headers=account.headers
    )

    data = assert_data(renamed)
    assert (data["firstName"], data["lastName"], data["role"]) == ("Grace", "Hopper", "basic_user")
    for field, value in (
        ("role", "admin"),
        ("status", "inactive"),
        ("email", f"moved-{uuid.uuid4().hex[:8]}@example.com"),
    ):
        refused = gateway.put(own, json={field: value}, headers=account.headers)
        assert_error(refused, 403, "FORBIDDEN", own)
    moved = gateway.put(own, json={"organizationId": str(uuid.uuid4())}, headers=account.headers)
    assert_error(moved, 422, "VALIDATION_ERROR", own)
    theirs = f"{USERS}/{colleague['id']}"
    refused = gateway.put(theirs, json={"firstName": "Hijacked"}, headers=account.headers)
    assert refused.status_code in (403, 404), refused.text
    after = assert_data(api.get(own))
    assert (after["firstName"], after["role"], after["status"], after["email"]) == (
        "Grace",
        "basic_user",
        "active",
        account.email,
    )
    assert assert_data(api.get(theirs))["firstName"] == colleague["firstName"]
