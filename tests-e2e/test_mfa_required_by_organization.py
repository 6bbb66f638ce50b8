"""An organization that requires MFA (set through its settings) holds its users to enrolment."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
from support import assert_data, assert_error, eventually, login


def test_an_org_requiring_mfa_lets_its_users_do_nothing_but_enrol(
    api: httpx.Client, gateway: httpx.Client, create_organization: Any, make_account: Any
) -> None:
    org = create_organization("e2e-mfa-required")
    admin = make_account("admin", org["id"])
    settings = assert_data(api.get(f"/api/organizations/{org['id']}/settings"))
    updated = api.put(
        f"/api/organizations/{org['id']}/settings", json={**settings, "mfaRequired": True}
    )
    assert assert_data(updated)["mfaRequired"] is True

    # Identity learns the setting from organization.updated; new logins then carry it.
    for attempt in eventually(10, 0.2):
        with attempt:
            token = assert_data(login(gateway, {"email": admin.email, "password": admin.password}))
            headers = {"Authorization": f"Bearer {token['accessToken']}"}
            refused = gateway.get("/api/users", headers=headers)
            assert refused.status_code == 403, refused.text
    assert_error(refused, 403, "MFA_ENROLLMENT_REQUIRED", "/api/users")
    assert_error(gateway.get("/api/audit/logs", headers=headers), 403, "MFA_ENROLLMENT_REQUIRED")
    assert assert_data(gateway.get("/api/auth/me", headers=headers))["user"]["id"] == admin.id

    secret = assert_data(gateway.post("/api/auth/mfa/setup", headers=headers))["secret"]
    enabled = gateway.post(
        "/api/auth/mfa/enable", json={"code": pyotp.TOTP(secret).now()}, headers=headers
    )
    backup_codes = assert_data(enabled)["backupCodes"]
    challenge = assert_data(login(gateway, {"email": admin.email, "password": admin.password}))
    assert challenge["mfaRequired"] is True
    tokens = assert_data(
        gateway.post(
            "/api/auth/mfa/complete",
            json={"mfaToken": challenge["mfaToken"], "code": backup_codes[0]},
        )
    )
    enrolled = {"Authorization": f"Bearer {tokens['accessToken']}"}
    assert_data(gateway.get("/api/users", headers=enrolled))
