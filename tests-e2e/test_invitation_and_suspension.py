"""An invited customer admin accepts by mail, works, and is cut off when the org is suspended."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from support import bearer, eventually, mailed_token

NEW_PASSWORD = "violet tractor sings under nine lanterns"


def test_invited_admin_accepts_then_loses_access_when_the_org_is_suspended(
    api: httpx.Client, gateway: httpx.Client, create_organization: Any
) -> None:
    org = create_organization("e2e-invite")
    address = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    body = {
        "organizationId": org["id"],
        "email": address,
        "firstName": "Ada",
        "lastName": "Customer",
        "role": "admin",
    }
    # At once: the organization was created a moment ago, and that is enough.
    invited = api.post("/api/users", json=body)
    assert invited.status_code == 201, invited.text
    assert invited.json()["data"]["status"] == "invited"

    token = mailed_token(address)
    accepted = gateway.post(
        "/api/auth/password/reset", json={"token": token, "newPassword": NEW_PASSWORD}
    )
    assert accepted.status_code in (200, 204), accepted.text
    again = gateway.post(
        "/api/auth/password/reset", json={"token": token, "newPassword": NEW_PASSWORD + "!"}
    )
    assert again.status_code == 400  # single use

    login = gateway.post("/api/auth/login", json={"email": address, "password": NEW_PASSWORD})
    assert login.status_code == 200, login.text
    access = login.json()["data"]["accessToken"]
    headers = bearer(access)
    assert gateway.get("/api/auth/me", headers=headers).status_code == 200
    assert gateway.get("/api/users", headers=headers).status_code == 200
    assert gateway.get("/api/audit/logs", headers=headers).status_code == 200
    # A customer admin may not read organizations: refused for permission, not identity.
    assert gateway.get("/api/organizations", headers=headers).status_code == 403

    # The token never reaches the audit store, neither as events nor as log entries.
    user_id = invited.json()["data"]["id"]
    events = api.get("/api/audit/events", params={"aggregateId": user_id})
    logs = api.get("/api/audit/logs", params={"resourceId": user_id, "limit": 100})
    assert events.status_code == 200
    assert logs.status_code == 200
    assert token not in events.text
    assert token not in logs.text

    suspended = api.post(f"/api/organizations/{org['id']}/suspend", json={"reason": "e2e"})
    assert suspended.status_code == 200
    for attempt in eventually(1.0, 0.05):
        with attempt:
            statuses = {
                path: gateway.get(path, headers=headers).status_code
                for path in (
                    "/api/auth/me",
                    "/api/users",
                    "/api/audit/logs",
                    "/api/organizations",
                )
            }
            assert set(statuses.values()) == {401}, statuses
    blocked = gateway.post("/api/auth/login", json={"email": address, "password": NEW_PASSWORD})
    assert blocked.status_code == 403
