"""Shared fixtures of the end-to-end tests: the gateway, one login per session, org factory.

Black-box only: every request goes through the NGINX gateway at MSS_GATEWAY_URL (default
http://127.0.0.1:8080), except health and metrics, which the tests read from each
service's own port. The admin user comes from MSS_E2E_ADMIN_EMAIL / MSS_E2E_ADMIN_PASSWORD;
when the password is unset, the bootstrap password `scripts/up` wrote under the run dir
(MSS_RUN_DIR, default `.run/`) is used.

The gateway limits logins per client IP, so the session logs in exactly once and every
test reuses that token.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# Test modules import their shared helpers as `support` (pytest runs in importlib mode,
# which does not put this folder on sys.path by itself).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (
    ACCOUNT_PASSWORD,
    Account,
    login,
    mailed_token,
)

ROOT = Path(__file__).resolve().parents[1]
GATEWAY_URL = os.environ.get("MSS_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
VERIFY: str | bool = os.environ.get("MSS_GATEWAY_CA_BUNDLE") or True
DEFAULT_ADMIN_EMAIL = "admin@mss.local"

OrganizationFactory = Callable[..., dict[str, Any]]


def _bootstrap_password() -> str | None:
    run_dirs = [Path(os.environ["MSS_RUN_DIR"])] if os.environ.get("MSS_RUN_DIR") else []
    run_dirs.append(ROOT / ".run")
    for run_dir in run_dirs:
        secret = run_dir / "secrets" / "bootstrap-admin-password"
        if secret.is_file():
            return secret.read_text().strip()
    return None


def admin_credentials() -> dict[str, str]:
    """The e2e admin's email and password (env first, then the bootstrap secret file)."""
    email = (
        os.environ.get("MSS_E2E_ADMIN_EMAIL")
        or os.environ.get("MSS_BOOTSTRAP_ADMIN_EMAIL")
        or DEFAULT_ADMIN_EMAIL
    )
    password = os.environ.get("MSS_E2E_ADMIN_PASSWORD") or _bootstrap_password()
    if not password:
        pytest.fail(
            "no admin password: set MSS_E2E_ADMIN_PASSWORD or run scripts/up, which writes "
            ".run/secrets/bootstrap-admin-password"
        )
    return {"email": email, "password": password}


@pytest.fixture(scope="session")
def gateway() -> Iterator[httpx.Client]:
    """An anonymous HTTP client bound to the gateway."""
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0, verify=VERIFY) as http:
        yield http


@pytest.fixture(scope="session")
def login_response(gateway: httpx.Client) -> dict[str, Any]:
    """The `data` of the session's single login (retried only while rate limited)."""
    response = login(gateway, admin_credentials())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    assert data["tokenType"] == "Bearer"
    assert data["accessToken"]
    return data


@pytest.fixture(scope="session")
def access_token(login_response: dict[str, Any]) -> str:
    """A real access token of the e2e admin user."""
    token: str = login_response["accessToken"]
    return token


@pytest.fixture(scope="session")
def admin_user_id(login_response: dict[str, Any]) -> str:
    """The id of the logged-in admin user."""
    user_id: str = login_response["user"]["id"]
    return user_id


@pytest.fixture(scope="session")
def api(access_token: str) -> Iterator[httpx.Client]:
    """A client bound to the gateway that sends the session's bearer token."""
    headers = {"Authorization": f"Bearer {access_token}"}
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0, verify=VERIFY, headers=headers) as http:
        yield http


def unique_name(prefix: str) -> str:
    """An organization name no other test run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def create_organization(api: httpx.Client) -> OrganizationFactory:
    """Creates a customer organization through the gateway; returns the 201's `data`."""

    def create(prefix: str = "e2e-org", **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name(prefix), **fields}
        response = api.post("/api/organizations", json=body)
        assert response.status_code == 201, response.text
        envelope = response.json()
        assert envelope["success"] is True
        data: dict[str, Any] = envelope["data"]
        assert data["name"] == body["name"]
        uuid.UUID(data["id"])
        return data

    return create


@pytest.fixture(scope="session")
def credentials() -> dict[str, str]:
    """The e2e admin's login body, for tests that need sessions of their own."""
    return admin_credentials()


AccountFactory = Callable[..., Account]


@pytest.fixture(scope="session")
def provider_org_id(login_response: dict[str, Any]) -> str:
    org_id: str = login_response["user"]["organizationId"]
    return org_id


@pytest.fixture(scope="session")
def make_account(api: httpx.Client, gateway: httpx.Client) -> AccountFactory:
    """`make_account(role, org_id)`: invite (as the e2e super admin), accept by mail, log in."""

    def make(role: str, org_id: str, *, password: str = ACCOUNT_PASSWORD) -> Account:
        address = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        body = {
            "organizationId": org_id,
            "email": address,
            "firstName": "E2e",
            "lastName": role.title(),
            "role": role,
        }
        # At once, even into an organization created a moment ago: identity asks the
        # organization service for one its directory lacks (no wait, no retry).
        invited = api.post("/api/users", json=body)
        assert invited.status_code == 201, invited.text
        token = mailed_token(address)
        accepted = gateway.post(
            "/api/auth/password/reset", json={"token": token, "newPassword": password}
        )
        assert accepted.status_code in (200, 204), accepted.text
        response = login(gateway, {"email": address, "password": password})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        return Account(
            id=invited.json()["data"]["id"],
            email=address,
            password=password,
            org_id=org_id,
            role=role,
            access_token=data["accessToken"],
            refresh_token=data["refreshToken"],
        )

    return make


# --- one account per role, shared by the authorization and cross-tenant tests -------------

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from support import CUSTOMER_ROLE_NAMES, PROVIDER_ROLE_NAMES, TenantCast  # noqa: E402


@pytest.fixture(scope="module")
def tenant_cast(
    create_organization: OrganizationFactory, make_account: AccountFactory, provider_org_id: str
) -> TenantCast:
    """Customer orgs A and B, every customer role in A, an admin in B, every provider role.

    Created once per module that asks for it (ten invitations, acceptances and logins, run
    in parallel, a few seconds), so the access tokens (15 min) outlive the module's tests.
    Tests only read with these accounts, they never change them.
    """
    org_a = create_organization("e2e-authz-a")
    org_b = create_organization("e2e-authz-b")
    wanted = [(role, org_a["id"]) for role in CUSTOMER_ROLE_NAMES]
    wanted += [(role, provider_org_id) for role in PROVIDER_ROLE_NAMES]
    wanted.append(("admin", org_b["id"]))
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        made = list(pool.map(lambda pair: make_account(*pair), wanted))
    accounts = {account.role: account for account in made[:-1]}
    return TenantCast(
        org_a=org_a,
        org_b=org_b,
        provider_org_id=provider_org_id,
        accounts=accounts,
        admin_b=made[-1],
    )


# --- minted access tokens ----------------------------------------------------------------

from support import TokenMinter  # noqa: E402


@pytest.fixture(scope="session")
def minter() -> Iterator[TokenMinter]:
    """Mints real access tokens with the dev signing key, their sessions live in Redis
    (support.TokenMinter): act as any role of any organization without logging in. Every
    session key set is deleted at the end of the run."""
    try:
        made = TokenMinter()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    yield made
    made.close()
