"""Denied actions are audited (ASVS V16.3), aggregated so that a flood cannot flood the audit.

A customer admin (of its own, fresh organization, so that no other test's refusals share
its journal keys) is refused 30 times on a route its role lacks (403, organization
service) and probes another tenant's user 30 times (404, identity, exactly the answer of
an unknown id). The super admin then reads the admin's organization's audit log: each kind
of refusal is one or two `access.denied` entries (the first refusal at once, the rest when
the journal's 10 s window closes) whose counts sum to 30, each with `success: false`, the
route template, the status and a readable `errorMessage`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
from support import Account, assert_data, assert_error, eventually, invite_user

REFUSALS = 30
# The journal's window (10 s) closes, then the relay, the bus and the audit worker.
AUDIT_DEADLINE_S = 30.0
FORBIDDEN_ACTION = "GET /api/technician-access"
PROBE_ACTION = "GET /api/users/{user_id}"


def _denied(api: httpx.Client, actor: Account) -> list[dict[str, Any]]:
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
    return entries


def test_a_customers_403s_and_cross_tenant_404s_are_audited_as_a_few_denied_entries(
    api: httpx.Client, gateway: httpx.Client, create_organization: Any, make_account: Any
) -> None:
    org_a, org_b = create_organization("e2e-denied-a"), create_organization("e2e-denied-b")
    victim, _ = invite_user(api, org_b["id"], "basic_user")
    admin = make_account("admin", org_a["id"])

    for _ in range(REFUSALS):
        assert_error(
            gateway.get("/api/technician-access", headers=admin.headers),
            403,
            "FORBIDDEN",
            "/api/technician-access",
        )
        probe = gateway.get(f"/api/users/{victim['id']}", headers=admin.headers)
        assert_error(probe, 404, "NOT_FOUND")
        assert probe.json()["error"] == "Resource not found"

    # The first refusal of each kind is in the log promptly (the journal's leading edge).
    for attempt in eventually(10.0, 0.25):
        with attempt:
            first = {entry["details"]["data"]["action"] for entry in _denied(api, admin)}
            assert first >= {FORBIDDEN_ACTION, PROBE_ACTION}, first

    for attempt in eventually(AUDIT_DEADLINE_S, 0.5):
        with attempt:
            entries = _denied(api, admin)
            by_action: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for entry in entries:
                by_action[entry["details"]["data"]["action"]].append(entry)
            counts = {
                action: sum(e["details"]["data"]["count"] for e in found)
                for action, found in by_action.items()
            }
            assert counts == {FORBIDDEN_ACTION: REFUSALS, PROBE_ACTION: REFUSALS}, counts

    for action, status, code in (
        (FORBIDDEN_ACTION, 403, "FORBIDDEN"),
        (PROBE_ACTION, 404, "NOT_FOUND"),
    ):
        found = by_action[action]
        assert 1 <= len(found) <= 2, found
        for entry in found:
            data = entry["details"]["data"]
            assert entry["success"] is False, entry
            assert entry["organizationId"] == admin.org_id, entry
            assert entry["userId"] == admin.id, entry
            assert entry["ipAddress"], entry
            assert (data["status"], data["code"], data["actorRole"]) == (status, code, "admin")
            assert entry["errorMessage"].startswith(f"{status} {code} on {action}: "), entry
    assert victim["id"] not in str(entries), "the template names the route, never the id"
