"""A living SOC in one command: demo customers, users in every role, API keys and alerts.

`scripts/demo [--alerts-per-customer 800]` against the running platform (`scripts/up`
first). Everything goes through the gateway as a client would: the bootstrap super admin
creates four customer organizations, invites one user per role (accepting each invitation
from the local mail sink, with one demo password), creates a SIEM API key per customer
(`alerts:create` on it alone), and each SIEM sends a month of alerts in batches: realistic
titles, categories, assets and observables, recurring ones deduplicated. An analyst then
triages part of them (acknowledged, assigned, resolved). Prints how to log in as each role.
Environment: MSS_PORT_OFFSET, MSS_RUN_DIR, MSS_BOOTSTRAP_ADMIN_EMAIL.
"""

from __future__ import annotations

import argparse
import email
import mailbox
import os
import random
import re
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

ROOT = Path(__file__).resolve().parents[2]
OFFSET = int(os.environ.get("MSS_PORT_OFFSET", "0"))
RUN_DIR = Path(os.environ.get("MSS_RUN_DIR") or ROOT / (f".run_{OFFSET}" if OFFSET else ".run"))
GATEWAY = f"http://127.0.0.1:{8080 + OFFSET}"
ADMIN_EMAIL = os.environ.get("MSS_BOOTSTRAP_ADMIN_EMAIL", "admin@mss.local")
PASSWORD = "demo violet tractor sings nine lanterns"
CUSTOMERS = ["Northwind Health", "Contoso Bank", "Fabrikam Logistics", "Tailspin Retail"]
CUSTOMER_ROLES = ["admin", "report_viewer", "request_user", "basic_user"]
PROVIDER_ROLES = ["account_manager", "security_analyst", "technician"]

# (title, category, severity weights low..critical, observable type, source)
SCENARIOS = [
    ("Suspicious PowerShell download cradle", "malware", (1, 3, 5, 2), "url", "defender"),
    ("Brute force against VPN gateway", "intrusion", (2, 5, 3, 1), "ipv4", "fortigate"),
    ("User clicked a phishing link", "phishing", (1, 4, 4, 1), "domain", "proofpoint"),
    ("Ransomware canary file modified", "malware", (0, 0, 2, 5), "sha256", "crowdstrike"),
    ("Impossible travel sign-in", "anomaly", (2, 5, 3, 0), "ipv4", "entra-id"),
    ("Outbound traffic to known C2", "intrusion", (0, 1, 4, 4), "domain", "zeek"),
    (
        "Large upload to personal cloud storage",
        "data_exfiltration",
        (1, 3, 4, 1),
        "url",
        "netskope",
    ),
    (
        "Unpatched critical CVE exposed to the internet",
        "vulnerability",
        (0, 2, 5, 2),
        "hostname",
        "tenable",
    ),
    ("Admin login outside business hours", "policy_violation", (3, 5, 1, 0), "user", "splunk"),
    ("Macro-enabled attachment opened", "malware", (1, 4, 4, 1), "md5", "defender"),
]
SEVERITIES = ["low", "medium", "high", "critical"]


def fail(message: str) -> None:
    sys.exit(f"scripts/demo: {message}")


def admin_password() -> str:
    secret = RUN_DIR / "secrets" / "bootstrap-admin-password"
    password = os.environ.get("MSS_BOOTSTRAP_ADMIN_PASSWORD") or (
        secret.read_text().strip() if secret.is_file() else ""
    )
    if not password:
        fail(f"no admin password ({secret}): run scripts/up first")
    return password


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """One request, waiting out the gateway's rate limits; the `data` of its answer."""
    for _ in range(30):
        response = http.request(method, path, **kwargs)
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
    if response.status_code >= 400:
        fail(f"{method} {path} → {response.status_code} {response.text[:300]}")
    return response.json().get("data") if response.content else None


def mailed_token(recipient: str) -> str:
    for _ in range(100):
        for message in mailbox.Maildir(RUN_DIR / "mail", create=False):
            if recipient in (message.get("To") or ""):
                body = email.message_from_bytes(message.as_bytes()).get_payload(decode=True)
                if isinstance(body, bytes):
                    found = re.findall(r"token=([^\s&]+)", body.decode())
                    if found:
                        return unquote(found[-1])
        time.sleep(0.2)
    fail(f"no invitation mail for {recipient} in {RUN_DIR / 'mail'}")
    raise AssertionError


def invite(http: httpx.Client, admin: dict[str, str], role: str, org_id: str, slug: str) -> str:
    address = f"{role.replace('_', '.')}@{slug}.demo"
    call(
        http,
        "POST",
        "/api/users",
        headers=admin,
        json={
            "organizationId": org_id,
            "email": address,
            "firstName": role.split("_")[0].title(),
            "lastName": slug.title(),
            "role": role,
        },
    )
    call(
        http,
        "POST",
        "/api/auth/password/reset",
        json={"token": mailed_token(address), "newPassword": PASSWORD},
    )
    return address


def alerts_for(rng: random.Random, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    items = []
    for n in range(count):
        title, category, weights, kind, source = rng.choice(SCENARIOS)
        host = f"{rng.choice(['ws', 'srv', 'lap', 'db', 'vpn'])}-{rng.randint(1, 60):03d}"
        value = {
            "url": f"https://{rng.choice(['cdn-update', 'docs-share', 'login-verify'])}.example/x",
            "ipv4": f"185.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}",
            "domain": f"{rng.choice(['sync', 'telemetry', 'office'])}-{rng.randint(1, 9)}.example",
            "sha256": uuid.uuid4().hex + uuid.uuid4().hex,
            "md5": uuid.uuid4().hex,
            "hostname": host + ".corp.example",
            "user": f"{rng.choice(['jdoe', 'asmith', 'mkhan', 'lchen'])}",
        }[kind]
        # A third recur (same source reference): they fold into one alert, counted.
        ref = f"{source}-{rng.randint(1, count // 3)}" if rng.random() < 0.33 else uuid.uuid4().hex
        items.append(
            {
                "title": title,
                "description": f"{title} on {host}, detected by {source}.",
                "severity": rng.choices(SEVERITIES, weights=weights)[0],
                "category": category,
                "source": source,
                "sourceRef": ref,
                "occurredAt": (now - timedelta(seconds=rng.randint(0, 30 * 86400))).isoformat(),
                "affectedAssets": [host],
                "observables": [{"type": kind, "value": value}],
                "metadata": {"demo": True, "rule": f"R-{n % 97}"},
            }
        )
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts-per-customer", type=int, default=800)
    args = parser.parse_args()
    rng = random.Random(12)  # noqa: S311 (a reproducible mix, not a secret)
    run = uuid.uuid4().hex[:4]
    with httpx.Client(base_url=GATEWAY, timeout=60) as http:
        tokens = call(
            http,
            "POST",
            "/api/auth/login",
            json={"email": ADMIN_EMAIL, "password": admin_password()},
        )
        admin = {"Authorization": f"Bearer {tokens['accessToken']}"}
        provider_org = tokens["user"]["organizationId"]
        logins: list[tuple[str, str, str]] = []
        for role in PROVIDER_ROLES:
            logins.append(("provider", role, invite(http, admin, role, provider_org, f"mss{run}")))
        analyst_id = call(
            http,
            "GET",
            "/api/users",
            headers=admin,
            params={"role": "security_analyst", "limit": 1},
        )[0]["id"]
        keys = []
        for name in CUSTOMERS:
            org = call(
                http, "POST", "/api/organizations", headers=admin, json={"name": f"{name} ({run})"}
            )
            call(
                http,
                "PUT",
                f"/api/organizations/{org['id']}/settings",
                headers=admin,
                json={"alertQuotaPerMinute": 100_000},
            )
            slug = name.split()[0].lower() + run
            for role in CUSTOMER_ROLES:
                logins.append((org["name"], role, invite(http, admin, role, org["id"], slug)))
            key = call(
                http,
                "POST",
                "/api/api-keys",
                headers=admin,
                json={
                    "organizationId": org["id"],
                    "name": "SIEM",
                    "permissions": ["alerts:create"],
                },
            )
            keys.append((org["name"], key["key"]))
            siem = call(http, "POST", "/api/auth/token", json={"apiKey": key["key"]})
            siem_headers = {"Authorization": f"Bearer {siem['accessToken']}"}
            items = alerts_for(rng, args.alerts_per_customer)
            ids: list[str] = []
            for start in range(0, len(items), 500):
                batch = call(
                    http,
                    "POST",
                    "/api/alerts/batch",
                    headers=siem_headers,
                    json={"alerts": items[start : start + 500]},
                )
                ids += [i["id"] for i in batch["items"] if i["result"] == "created"]
            # Triage: most of the month's alerts resolved, some acknowledged and assigned.
            rng.shuffle(ids)
            cut = len(ids) * 6 // 10
            for chunk in range(0, cut, 500):
                call(
                    http,
                    "POST",
                    "/api/alerts/bulk",
                    headers=admin,
                    json={
                        "ids": ids[chunk : min(chunk + 500, cut)],
                        "action": "resolve",
                        "resolution": rng.choice(["false_positive", "true_positive", "benign"]),
                    },
                )
            triaged = ids[cut : cut + len(ids) // 10]
            if triaged:
                call(
                    http,
                    "POST",
                    "/api/alerts/bulk",
                    headers=admin,
                    json={"ids": triaged, "action": "assign", "userId": analyst_id},
                )
                call(
                    http,
                    "POST",
                    "/api/alerts/bulk",
                    headers=admin,
                    json={"ids": triaged, "action": "acknowledge"},
                )
            print(f"  {org['name']}: {len(ids)} alerts ({len(items)} sent), users in every role")
    print(f"\nThe demo SOC runs at {GATEWAY} (API under /api). Log in with POST /api/auth/login")
    print(f'{{"email": …, "password": "{PASSWORD}"}} as any of:')
    for org_name, role, address in logins:
        print(f"  {org_name:32} {role:18} {address}")
    print(f"\nThe super admin: {ADMIN_EMAIL} (password in {RUN_DIR / 'secrets'}).")
    print('SIEM API keys (exchange at POST /api/auth/token {"apiKey": …}):')
    for org_name, key in keys:
        print(f"  {org_name:32} {key}")


if __name__ == "__main__":
    main()
