"""The alert API on real PostgreSQL and Redis: ingest, dedup, workflow, reads, quotas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_contracts.permissions import Role
from mss_security.domain.alerts import BATCH_MAX
from mss_security.main import build_runtime, create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import running

pytestmark = pytest.mark.integration

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[..., Awaitable[uuid.UUID]]
NewUser = Callable[..., Awaitable[uuid.UUID]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]
Body = Callable[..., dict[str, Any]]


def alert_body(**changes: Any) -> dict[str, Any]:
    """A valid ingest item (a fresh sourceRef each), changed."""
    body: dict[str, Any] = {
        "title": "Beacon to known C2",
        "description": "Outbound TLS to a sinkholed domain",
        "severity": "high",
        "category": "malware",
        "source": "edr",
        "sourceRef": uuid.uuid4().hex,
        "affectedAssets": ["ws-0042"],
        "observables": [{"type": "domain", "value": "evil.example"}],
        "metadata": {"rule": "C2-17"},
    }
    body.update(changes)
    return body


async def _ingest(
    client: httpx.AsyncClient, headers: dict[str, str], **changes: Any
) -> dict[str, Any]:
    response = await client.post("/api/alerts", json=alert_body(**changes), headers=headers)
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()["data"]
    return data


class TestIngest:
    async def test_an_api_key_ingests_into_its_organization_and_a_duplicate_counts(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        outbox_events: Events,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        body = alert_body()
        first = await client.post("/api/alerts", json=body, headers=key)
        assert first.status_code == 201, first.text
        alert = first.json()["data"]
        assert (alert["organizationId"], alert["status"], alert["occurrenceCount"]) == (
            str(org),
            "open",
            1,
        )
        again = await client.post("/api/alerts", json=body, headers=key)
        assert again.status_code == 200
        assert again.json()["data"]["id"] == alert["id"]
        assert again.json()["data"]["occurrenceCount"] == 2
        types = [e["type"] for e in await outbox_events(alert["id"])]
        assert types == ["security.alert.created", "security.alert.deduplicated"]

    async def test_an_api_key_naming_another_organization_is_refused(
        self, client: httpx.AsyncClient, new_customer: NewOrg, headers_for: HeadersFor
    ) -> None:
        org, other = await new_customer(), await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        response = await client.post(
            "/api/alerts", json=alert_body(organizationId=str(other)), headers=key
        )
        assert response.status_code == 403

    async def test_provider_staff_must_name_the_organization(
        self, client: httpx.AsyncClient, admin: dict[str, str], new_customer: NewOrg
    ) -> None:
        missing = await client.post("/api/alerts", json=alert_body(), headers=admin)
        assert missing.status_code == 422
        assert "organizationId" in missing.json()["details"]
        org = await new_customer()
        named = await client.post(
            "/api/alerts", json=alert_body(organizationId=str(org)), headers=admin
        )
        assert named.status_code == 201

    async def test_a_customer_user_cannot_ingest(
        self, client: httpx.AsyncClient, new_customer: NewOrg, headers_for: HeadersFor
    ) -> None:
        org = await new_customer()
        admin = await headers_for(Role.ADMIN, org_id=org)
        response = await client.post("/api/alerts", json=alert_body(), headers=admin)
        assert response.status_code == 403

    async def test_a_batch_with_one_bad_item_names_it_and_stores_nothing(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        items = [alert_body() for _ in range(5)]
        items[3]["severity"] = "apocalyptic"
        response = await client.post("/api/alerts/batch", json={"alerts": items}, headers=key)
        assert response.status_code == 422
        assert "alerts[3].severity" in response.json()["details"]
        stored = await admin_db.fetchval(
            "SELECT count(*) FROM security.alerts WHERE org_id = $1", org
        )
        assert stored == 0

    async def test_a_batch_over_the_item_cap_is_refused_whole(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        items = [alert_body(title=f"cap {i}") for i in range(BATCH_MAX + 1)]
        response = await client.post("/api/alerts/batch", json={"alerts": items}, headers=key)
        assert response.status_code == 422
        assert "alerts" in response.json()["details"]
        stored = await admin_db.fetchval(
            "SELECT count(*) FROM security.alerts WHERE org_id = $1", org
        )
        assert stored == 0

    async def test_duplicates_inside_a_batch_fold_into_one_alert_in_input_order(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        outbox_events: Events,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        a, b = alert_body(), alert_body()
        response = await client.post(
            "/api/alerts/batch", json={"alerts": [a, b, a, a]}, headers=key
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert (data["created"], data["deduplicated"]) == (2, 2)
        assert [i["index"] for i in data["items"]] == [0, 1, 2, 3]
        assert [i["result"] for i in data["items"]] == [
            "created",
            "created",
            "deduplicated",
            "deduplicated",
        ]
        a_id = data["items"][0]["id"]
        assert data["items"][2]["id"] == data["items"][3]["id"] == a_id
        events = await outbox_events(a_id)
        assert [e["type"] for e in events] == [
            "security.alert.created",
            "security.alert.deduplicated",
        ]
        assert events[1]["data"]["occurrences"] == 2
        assert events[1]["data"]["occurrenceCount"] == 3

    async def test_concurrent_duplicate_batches_count_every_occurrence_exactly(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        bodies = [alert_body(sourceRef=f"ref-{n}") for n in range(20)]

        async def send(shift: int) -> int:
            # Each batch: every key three times, in an order of its own.
            items = [bodies[(n + shift) % 20] for n in range(60)]
            response = await client.post("/api/alerts/batch", json={"alerts": items}, headers=key)
            assert response.status_code == 200, response.text
            created: int = response.json()["data"]["created"]
            return created

        created = await asyncio.gather(*(send(shift) for shift in range(6)))
        assert sum(created) == 20
        rows = await admin_db.fetch(
            "SELECT occurrence_count FROM security.alerts WHERE org_id = $1", org
        )
        assert len(rows) == 20
        assert all(row["occurrence_count"] == 18 for row in rows)

    async def test_a_recurrence_of_a_resolved_alert_is_a_new_alert_naming_the_last(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin: dict[str, str],
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        body = alert_body()
        first = (await client.post("/api/alerts", json=body, headers=key)).json()["data"]
        resolved = await client.post(
            f"/api/alerts/{first['id']}/resolve", json={"resolution": "benign"}, headers=admin
        )
        assert resolved.status_code == 200
        again = await client.post("/api/alerts", json=body, headers=key)
        assert again.status_code == 201
        assert again.json()["data"]["previousAlertId"] == first["id"]
        # The first cannot come back while its recurrence is unresolved.
        reopened = await client.post(
            f"/api/alerts/{first['id']}/reopen", json={"reason": "again"}, headers=admin
        )
        assert reopened.status_code == 409

    async def test_a_body_over_the_limit_is_refused_before_parsing(
        self, client: httpx.AsyncClient, new_customer: NewOrg, headers_for: HeadersFor
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        payload = b'{"title": "' + b"x" * (600 * 1024) + b'"}'
        response = await client.post(
            "/api/alerts", content=payload, headers={**key, "Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"title": "x" * 256}, "title"),
            ({"affectedAssets": ["h"] * 101}, "affectedAssets"),
            ({"observables": [{"type": "ipv9", "value": "1"}]}, "observables[0].type"),
            ({"metadata": {"blob": "x" * 70_000}}, "metadata"),
            ({"category": "weather"}, "category"),
        ],
    )
    async def test_each_bad_field_is_named(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        changes: dict[str, Any],
        field: str,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        response = await client.post("/api/alerts", json=alert_body(**changes), headers=key)
        assert response.status_code == 422
        assert field in response.json()["details"]


class TestQuota:
    async def test_past_the_quota_a_request_is_refused_whole_with_retry_after(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await new_customer(quota=5)
        key = await headers_for(org_id=org, api_key=True)
        too_many = await client.post(
            "/api/alerts/batch", json={"alerts": [alert_body() for _ in range(6)]}, headers=key
        )
        assert too_many.status_code == 429
        assert too_many.json()["code"] == "QUOTA_EXCEEDED"
        assert int(too_many.headers["Retry-After"]) >= 1
        assert (
            await admin_db.fetchval("SELECT count(*) FROM security.alerts WHERE org_id = $1", org)
            == 0
        )
        # The refused request spent nothing: five still fit.
        fits = await client.post(
            "/api/alerts/batch", json={"alerts": [alert_body() for _ in range(5)]}, headers=key
        )
        assert fits.status_code == 200

    async def test_two_api_processes_share_one_quota(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        platform_settings: PlatformSettings,
        key_loader: KeyLoader,
        signing_keys_dir: Path,
    ) -> None:
        org = await new_customer(quota=4)
        key = await headers_for(org_id=org, api_key=True)
        other_app = create_app(lambda: build_runtime(key_loader), run_relay=False)
        async with running(other_app) as other:
            for api in (client, other, client, other):
                assert (
                    await api.post("/api/alerts", json=alert_body(), headers=key)
                ).status_code == 201
            # Duplicates count too: quotas count alerts, not new ones.
            refused = await other.post("/api/alerts", json=alert_body(), headers=key)
            assert refused.status_code == 429


class TestWorkflow:
    async def test_acknowledge_resolve_reopen_and_the_refused_steps(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin: dict[str, str],
        outbox_events: Events,
    ) -> None:
        org = await new_customer()
        alert = await _ingest(client, admin, organizationId=str(org))
        path = f"/api/alerts/{alert['id']}"
        acked = await client.post(f"{path}/acknowledge", headers=admin)
        assert acked.status_code == 200
        assert (acked.json()["data"]["status"], acked.json()["data"]["version"]) == (
            "acknowledged",
            2,
        )
        twice = await client.post(f"{path}/acknowledge", headers=admin)
        assert twice.status_code == 409
        assert twice.json()["code"] == "INVALID_STATE_TRANSITION"
        assert twice.json()["details"]["status"] == "acknowledged"
        resolved = await client.post(
            f"{path}/resolve",
            json={"resolution": "true_positive", "note": "contained"},
            headers=admin,
        )
        assert resolved.json()["data"]["resolution"] == "true_positive"
        escalate = await client.post(f"{path}/escalate", json={"priority": "high"}, headers=admin)
        assert escalate.status_code == 409
        reopened = await client.post(f"{path}/reopen", json={"reason": "came back"}, headers=admin)
        assert reopened.json()["data"]["status"] == "open"
        types = [e["type"] for e in await outbox_events(alert["id"])]
        assert types == [
            "security.alert.created",
            "security.alert.acknowledged",
            "security.alert.resolved",
            "security.alert.reopened",
        ]

    async def test_escalating_links_a_new_intervention_and_announces_it(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        admin: dict[str, str],
        outbox_events: Events,
    ) -> None:
        org = await new_customer()
        alert = await _ingest(client, admin, organizationId=str(org))
        response = await client.post(
            f"/api/alerts/{alert['id']}/escalate",
            json={"priority": "critical", "title": "Contain ws-0042"},
            headers=admin,
        )
        assert response.status_code == 202, response.text
        data = response.json()["data"]
        assert data["alert"]["interventionId"] == data["interventionId"]
        event = (await outbox_events(alert["id"]))[-1]
        assert event["type"] == "security.alert.escalated"
        assert event["data"]["escalatedInterventionId"] == data["interventionId"]
        assert event["data"]["interventionTitle"] == "Contain ws-0042"

    async def test_an_escalation_of_an_unknown_intervention_type_is_refused_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        admin: dict[str, str],
        outbox_events: Events,
    ) -> None:
        org = await new_customer()
        alert = await _ingest(client, admin, organizationId=str(org))
        response = await client.post(
            f"/api/alerts/{alert['id']}/escalate",
            json={"priority": "high", "type": "penetration_party"},
            headers=admin,
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert "type" in body["details"]
        types = [e["type"] for e in await outbox_events(alert["id"])]
        assert types == ["security.alert.created"]

    async def test_a_stale_if_match_is_refused_and_a_current_one_accepted(
        self, client: httpx.AsyncClient, new_customer: NewOrg, admin: dict[str, str]
    ) -> None:
        org = await new_customer()
        alert = await _ingest(client, admin, organizationId=str(org))
        path = f"/api/alerts/{alert['id']}"
        stale = await client.patch(
            path, json={"severity": "critical"}, headers={**admin, "If-Match": "7"}
        )
        assert stale.status_code == 412
        current = await client.patch(
            path, json={"severity": "critical"}, headers={**admin, "If-Match": '"1"'}
        )
        assert current.status_code == 200
        assert (current.json()["data"]["severity"], current.json()["data"]["version"]) == (
            "critical",
            2,
        )

    async def test_assignment_takes_provider_users_who_may_work_alerts_only(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        new_user: NewUser,
        admin: dict[str, str],
    ) -> None:
        org = await new_customer()
        alert = await _ingest(client, admin, organizationId=str(org))
        path = f"/api/alerts/{alert['id']}/assign"
        analyst = await new_user(Role.SECURITY_ANALYST)
        ok = await client.post(path, json={"userId": str(analyst)}, headers=admin)
        assert ok.status_code == 200
        assert ok.json()["data"]["assignedTo"] == str(analyst)
        technician = await new_user(Role.TECHNICIAN)
        customer = await new_user(Role.ADMIN, org_id=org)
        for user in (technician, customer, uuid.uuid4()):
            refused = await client.post(path, json={"userId": str(user)}, headers=admin)
            assert refused.status_code == 422, refused.text
        unassigned = await client.post(path, json={"userId": None}, headers=admin)
        assert unassigned.json()["data"]["assignedTo"] is None

    async def test_comments_meant_for_the_customer_are_all_a_customer_reads(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin: dict[str, str],
    ) -> None:
        org = await new_customer()
        alert = await _ingest(client, admin, organizationId=str(org))
        path = f"/api/alerts/{alert['id']}/comments"
        for visibility in ("internal", "customer"):
            created = await client.post(
                path, json={"body": f"{visibility} note", "visibility": visibility}, headers=admin
            )
            assert created.status_code == 201
        provider = (await client.get(path, headers=admin)).json()["data"]
        assert [c["body"] for c in provider] == ["internal note", "customer note"]
        customer = await headers_for(Role.REPORT_VIEWER, org_id=org)
        seen = (await client.get(path, headers=customer)).json()["data"]
        assert [c["body"] for c in seen] == ["customer note"]

    async def test_bulk_acknowledges_what_it_can_and_says_why_it_skipped_the_rest(
        self, client: httpx.AsyncClient, new_customer: NewOrg, admin: dict[str, str]
    ) -> None:
        org = await new_customer()
        a = await _ingest(client, admin, organizationId=str(org))
        b = await _ingest(client, admin, organizationId=str(org))
        await client.post(f"/api/alerts/{b['id']}/acknowledge", headers=admin)
        unknown = str(uuid.uuid4())
        response = await client.post(
            "/api/alerts/bulk",
            json={"ids": [a["id"], b["id"], unknown], "action": "acknowledge"},
            headers=admin,
        )
        assert response.status_code == 200
        data = response.json()["data"]
        assert data["updated"] == [a["id"]]
        assert data["skipped"] == [
            {"id": b["id"], "reason": "status is acknowledged"},
            {"id": unknown, "reason": "not found"},
        ]


class TestReads:
    async def test_tenants_and_roles(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin: dict[str, str],
    ) -> None:
        mine, theirs = await new_customer(), await new_customer()
        own = await _ingest(client, admin, organizationId=str(mine))
        other = await _ingest(client, admin, organizationId=str(theirs))
        viewer = await headers_for(Role.REPORT_VIEWER, org_id=mine)
        listed = (await client.get("/api/alerts", headers=viewer)).json()["data"]
        assert [a["id"] for a in listed] == [own["id"]]
        assert (await client.get(f"/api/alerts/{other['id']}", headers=viewer)).status_code == 404
        assert (await client.get(f"/api/alerts/{own['id']}", headers=viewer)).status_code == 200
        acting = await client.post(f"/api/alerts/{own['id']}/acknowledge", headers=viewer)
        assert acting.status_code == 403
        basic = await headers_for(Role.BASIC_USER, org_id=mine)
        assert (await client.get("/api/alerts", headers=basic)).status_code == 403
        # Naming another tenant's organization shows nothing of it.
        peek = await client.get("/api/alerts", params={"orgId": str(theirs)}, headers=viewer)
        assert peek.json()["data"] == []

    async def test_filters_sorts_and_keyset_pages(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin: dict[str, str],
    ) -> None:
        org = await new_customer()
        severities = ["low", "critical", "medium", "high", "critical"]
        for n, severity in enumerate(severities):
            await _ingest(
                client,
                admin,
                organizationId=str(org),
                severity=severity,
                title=f"alert {n} on zebrahost{n}",
                occurredAt=f"2026-01-0{n + 1}T00:00:00Z",
            )
        reader = await headers_for(Role.ADMIN, org_id=org)

        async def page(**params: Any) -> dict[str, Any]:
            response = await client.get("/api/alerts", params=params, headers=reader)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        first = await page(limit=2)
        assert [a["title"] for a in first["data"]] == [
            "alert 4 on zebrahost4",
            "alert 3 on zebrahost3",
        ]
        assert first["meta"]["total"] == 5
        assert first["meta"]["totalExact"] is True
        second = await page(limit=2, cursor=first["meta"]["nextCursor"])
        third = await page(limit=2, cursor=second["meta"]["nextCursor"])
        assert [a["title"][:7] for a in second["data"] + third["data"]] == [
            "alert 2",
            "alert 1",
            "alert 0",
        ]
        assert third["meta"]["nextCursor"] is None
        critical = await page(severity="critical,high")
        assert len(critical["data"]) == 3
        by_severity = await page(sort="-severity")
        assert [a["severity"] for a in by_severity["data"]] == [
            "critical",
            "critical",
            "high",
            "medium",
            "low",
        ]
        oldest = await page(sort="firstSeenAt", limit=1)
        assert oldest["data"][0]["title"].startswith("alert 0")
        found = await page(q="ZEBRAHOST3")
        assert [a["title"] for a in found["data"]] == ["alert 3 on zebrahost3"]
        window = await page(**{"from": "2026-01-02T00:00:00Z", "to": "2026-01-04T00:00:00Z"})
        assert len(window["data"]) == 2
        assert len((await page(assignedTo="none"))["data"]) == 5

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"severity": "low,apocalyptic"}, "severity"),
            ({"status": "closed"}, "status"),
            ({"sort": "title"}, "sort"),
            ({"q": "ab"}, "q"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"limit": "201"}, "limit"),
            ({"assignedTo": "someone"}, "assignedTo"),
        ],
    )
    async def test_bad_list_queries_are_422_naming_the_parameter(
        self, client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], field: str
    ) -> None:
        response = await client.get("/api/alerts", params=params, headers=admin)
        assert response.status_code == 422, response.text
        assert field in response.json()["details"]

    async def test_a_cursor_of_another_sort_is_refused(
        self, client: httpx.AsyncClient, new_customer: NewOrg, admin: dict[str, str]
    ) -> None:
        org = await new_customer()
        for _ in range(2):
            await _ingest(client, admin, organizationId=str(org))
        first = (
            await client.get("/api/alerts", params={"orgId": str(org), "limit": 1}, headers=admin)
        ).json()
        response = await client.get(
            "/api/alerts",
            params={"orgId": str(org), "sort": "-severity", "cursor": first["meta"]["nextCursor"]},
            headers=admin,
        )
        assert response.status_code == 422
