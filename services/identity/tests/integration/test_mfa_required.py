"""An organization that requires MFA: its users must enrol before any other use."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from mss_bus.consumer import apply_once
from mss_contracts.events import EventContext, OrganizationUpdated, new_event
from mss_contracts.permissions import OrganizationType
from mss_identity.consumers.on_organization_event import on_organization_event
from mss_service import ServiceRuntime
from mss_testing.plugin import AccountFactory

pytestmark = pytest.mark.integration

PASSWORD = "a third long and unusual passphrase 8"


@pytest.fixture
async def email(new_account: AccountFactory, identity_runtime: ServiceRuntime) -> str:
    """A user of an organization whose settings say `mfaRequired`."""
    account = await new_account(PASSWORD)
    requires_mfa = new_event(
        OrganizationUpdated(
            name="Provider",
            type=OrganizationType.MSS_PROVIDER,
            status="active",
            settings={"mfaRequired": True},
            changed=["settings"],
        ),
        aggregate_id=account.org_id,
        organization_id=account.org_id,
        version=2,
        context=EventContext(),
    )
    effect = on_organization_event(identity_runtime.sessions)
    assert await apply_once(identity_runtime.uow, requires_mfa, effect)
    return account.email


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_unenrolled_user_may_only_enrol_until_mfa_is_on(
    client: httpx.AsyncClient, email: str
) -> None:
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    headers = _bearer(login.json()["data"]["accessToken"])

    for method, path in (("GET", "/api/users"), ("GET", "/api/auth/sessions")):
        refused = await client.request(method, path, headers=headers)
        assert refused.status_code == 403, path
        assert refused.json()["code"] == "MFA_ENROLLMENT_REQUIRED", path
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200

    secret = (await client.post("/api/auth/mfa/setup", headers=headers)).json()["data"]["secret"]
    enabled = await client.post(
        "/api/auth/mfa/enable", json={"code": pyotp.TOTP(secret).now()}, headers=headers
    )
    assert enabled.status_code == 200

    challenge = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert challenge.json()["data"]["mfaRequired"] is True
    done = await client.post(
        "/api/auth/mfa/complete",
        json={
            "mfaToken": challenge.json()["data"]["mfaToken"],
            "code": pyotp.TOTP(secret).at(time.time() + 30),
        },
    )
    assert done.status_code == 200
    assert (
        await client.get("/api/users", headers=_bearer(done.json()["data"]["accessToken"]))
    ).status_code == 200
