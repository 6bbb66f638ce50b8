"""Reports and the dashboard on real PostgreSQL: four eyes, metrics, the stored PDF, the
customers' view, the rollups against the alerts behind them, the monthly drafts."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pypdf
import pytest

from mss_bus.consumer import apply_once
from mss_contracts.events import (
    EventContext,
    InterventionCompleted,
    InterventionRequested,
    new_event,
)
from mss_contracts.permissions import Role
from mss_security.application.schedule import draft_due_reports
from mss_security.consumers.on_intervention_event import on_intervention_event
from mss_service import ServiceRuntime
from mss_testing.plugin import AppDb

pytestmark = pytest.mark.integration

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[..., Awaitable[uuid.UUID]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]

TODAY = datetime.now(UTC).date()


def alert_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Beacon to known C2",
        "description": "Outbound TLS to a sinkholed domain",
        "severity": "high",
        "category": "malware",
        "source": "edr",
        "sourceRef": uuid.uuid4().hex,
    }
    body.update(changes)
    return body


async def ingest(client: httpx.AsyncClient, key: Headers, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/alerts", json=alert_body(**changes), headers=key)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def report_body(org: uuid.UUID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organizationId": str(org),
        "title": "Monthly security report",
        "type": "monthly",
        "reportPeriodStart": (TODAY - timedelta(days=1)).isoformat(),
        "reportPeriodEnd": TODAY.isoformat(),
        "summary": "A quiet month <script>alert(1)</script>.",
        "findings": [
            {
                "title": "Phishing wave",
                "severity": "high",
                "description": "Three users clicked.",
                "recommendation": "Enable MFA everywhere.",
            }
        ],
    }
    body.update(changes)
    return body


async def intervention_event(
    runtime: ServiceRuntime, org: uuid.UUID, item: uuid.UUID, *, version: int, done: bool
) -> None:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "title": "Contain host",
        "priority": "high",
        "status": "completed" if done else "requested",
        "type": "incident_response",
        "requested_by": uuid.uuid4(),
        "actual_hours": 2.5 if done else 0,
        "completed_at": now if done else None,
        "response_due_at": now + timedelta(hours=4),
        "resolution_due_at": now + timedelta(hours=24),
    }
    data = (
        InterventionCompleted(**fields, summary="done") if done else InterventionRequested(**fields)
    )
    envelope = new_event(
        data, aggregate_id=item, organization_id=org, version=version, context=EventContext()
    )
    assert await apply_once(runtime.uow, envelope, on_intervention_event)


async def analysts(headers_for: HeadersFor) -> tuple[Headers, Headers]:
    return (
        await headers_for(Role.SECURITY_ANALYST, user_id=uuid.uuid4()),
        await headers_for(Role.SECURITY_ANALYST, user_id=uuid.uuid4()),
    )


class TestWorkflow:
    async def test_four_eyes_workflow_publishes_one_immutable_pdf(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        outbox_events: Events,
        security_runtime: ServiceRuntime,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        author, reviewer = await analysts(headers_for)
        first = await ingest(client, key, severity="critical")
        second = await ingest(client, key, category="phishing")
        await ingest(client, key, severity="low")
        acked = await client.post(f"/api/alerts/{first['id']}/acknowledge", headers=reviewer)
        assert acked.status_code == 200
        resolved = await client.post(
            f"/api/alerts/{second['id']}/resolve",
            json={"resolution": "false_positive"},
            headers=reviewer,
        )
        assert resolved.status_code == 200
        await intervention_event(security_runtime, org, uuid.uuid4(), version=5, done=True)

        created = await client.post("/api/reports", json=report_body(org), headers=author)
        assert created.status_code == 201, created.text
        report = created.json()["data"]
        assert report["status"] == "draft"
        metrics = report["metrics"]
        assert metrics["alerts"] == {
            "total": 3,
            "bySeverity": {"low": 1, "medium": 0, "high": 1, "critical": 1},
            "byCategory": {"malware": 2, "phishing": 1},
            "resolved": 1,
            "falsePositives": 1,
        }
        assert metrics["mttaSeconds"] is not None
        assert metrics["mttaSeconds"] >= 0
        assert metrics["interventions"] == {"total": 1, "completed": 1, "hours": 2.5}
        assert metrics["slaBreaches"] == 0
        rid = report["id"]

        edited = await client.put(
            f"/api/reports/{rid}", json={"title": "November report"}, headers=author
        )
        assert edited.status_code == 200
        assert (edited.json()["data"]["title"], edited.json()["data"]["version"]) == (
            "November report",
            2,
        )
        stale = await client.post(f"/api/reports/{rid}/submit", headers={**author, "If-Match": "1"})
        assert stale.status_code == 412
        submitted = await client.post(f"/api/reports/{rid}/submit", headers=author)
        assert submitted.json()["data"]["status"] == "in_review"
        frozen = await client.put(f"/api/reports/{rid}", json={"title": "x"}, headers=author)
        assert frozen.status_code == 409
        assert frozen.json()["details"] == {"status": "in_review"}

        own = await client.post(f"/api/reports/{rid}/approve", headers=author)
        assert own.status_code == 403
        assert own.json()["code"] == "FOUR_EYES_REQUIRED"
        own_reject = await client.post(
            f"/api/reports/{rid}/reject", json={"reason": "mine"}, headers=author
        )
        assert own_reject.json()["code"] == "FOUR_EYES_REQUIRED"
        early = await client.post(f"/api/reports/{rid}/publish", headers=author)
        assert early.status_code == 409

        rejected = await client.post(
            f"/api/reports/{rid}/reject",
            json={"reason": "Add the phishing figures"},
            headers=reviewer,
        )
        assert rejected.status_code == 200
        assert rejected.json()["data"]["status"] == "draft"
        assert rejected.json()["data"]["rejectionReason"] == "Add the phishing figures"
        await client.post(f"/api/reports/{rid}/submit", headers=author)
        approved = await client.post(f"/api/reports/{rid}/approve", headers=reviewer)
        assert approved.status_code == 200
        assert approved.json()["data"]["status"] == "approved"

        published = await client.post(f"/api/reports/{rid}/publish", headers=author)
        assert published.status_code == 200, published.text
        sha = published.json()["data"]["contentSha256"]
        assert published.json()["data"]["status"] == "published"
        again = await client.post(f"/api/reports/{rid}/publish", headers=author)
        assert again.status_code == 409

        downloads = [
            await client.get(f"/api/reports/{rid}/download", headers=h) for h in (author, reviewer)
        ]
        for d in downloads:
            assert d.status_code == 200
            assert d.headers["content-type"] == "application/pdf"
            assert d.headers["content-disposition"].startswith("attachment")
            assert hashlib.sha256(d.content).hexdigest() == sha
        stored = await admin_db.fetchval(
            "SELECT content FROM security.report_documents WHERE report_id = $1", uuid.UUID(rid)
        )
        assert bytes(stored) == downloads[0].content

        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(stored)).pages)
        name = await admin_db.fetchval(
            "SELECT name FROM security.org_directory WHERE org_id = $1", org
        )
        assert name in text
        assert (TODAY - timedelta(days=1)).isoformat() in text
        assert TODAY.isoformat() in text
        assert "Alerts 3" in text
        assert "False positives 1" in text
        assert "Intervention hours 2.5" in text
        assert "<script>alert(1)</script>" in text  # shown as text, never run as markup
        assert "DRAFT" not in text

        events = await outbox_events(rid)
        assert [e["type"] for e in events] == [
            "security.report.created",
            "security.report.updated",
            "security.report.submitted",
            "security.report.rejected",
            "security.report.submitted",
            "security.report.approved",
            "security.report.published",
            "security.report.downloaded",
            "security.report.downloaded",
        ]
        published_event = next(e for e in events if e["type"] == "security.report.published")
        assert published_event["data"]["contentSha256"] == sha
        assert sum(e["type"] == "security.report.downloaded" for e in events) == 2

    async def test_a_draft_downloads_with_the_draft_mark_for_provider_staff(
        self, client: httpx.AsyncClient, new_customer: NewOrg, headers_for: HeadersFor
    ) -> None:
        org = await new_customer()
        author, _ = await analysts(headers_for)
        rid = (await client.post("/api/reports", json=report_body(org), headers=author)).json()[
            "data"
        ]["id"]
        draft = await client.get(f"/api/reports/{rid}/download", headers=author)
        assert draft.status_code == 200
        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(draft.content)).pages)
        assert "DRAFT" in text

    async def test_bad_bodies_are_422_naming_the_field(
        self, client: httpx.AsyncClient, new_customer: NewOrg, headers_for: HeadersFor
    ) -> None:
        org = await new_customer()
        author, _ = await analysts(headers_for)
        backwards = report_body(
            org, reportPeriodStart=TODAY.isoformat(), reportPeriodEnd="2020-01-01"
        )
        for body in (
            report_body(org, type="weekly"),
            backwards,
            report_body(uuid.uuid4()),
            report_body(org, findings=[{"title": "x"}]),
        ):
            refused = await client.post("/api/reports", json=body, headers=author)
            assert refused.status_code == 422, body
            assert refused.json()["code"] == "VALIDATION_ERROR"
        unknown = await client.get(f"/api/reports/{uuid.uuid4()}", headers=author)
        assert unknown.status_code == 404
        malformed = await client.get("/api/reports/not-a-uuid", headers=author)
        assert malformed.status_code == 422


class TestCustomers:
    async def test_customers_see_only_their_published_reports(
        self, client: httpx.AsyncClient, new_customer: NewOrg, headers_for: HeadersFor
    ) -> None:
        org, other = await new_customer(), await new_customer()
        author, reviewer = await analysts(headers_for)

        async def published(of: uuid.UUID) -> str:
            rid: str = (
                await client.post("/api/reports", json=report_body(of), headers=author)
            ).json()["data"]["id"]
            await client.post(f"/api/reports/{rid}/submit", headers=author)
            await client.post(f"/api/reports/{rid}/approve", headers=reviewer)
            assert (
                await client.post(f"/api/reports/{rid}/publish", headers=author)
            ).status_code == 200
            return rid

        mine = await published(org)
        theirs = await published(other)
        draft = (await client.post("/api/reports", json=report_body(org), headers=author)).json()[
            "data"
        ]["id"]
        viewer = await headers_for(Role.REPORT_VIEWER, org_id=org)
        listed = await client.get("/api/reports", headers=viewer)
        assert listed.status_code == 200
        assert [r["id"] for r in listed.json()["data"]] == [mine]
        assert listed.json()["meta"]["total"] == 1
        assert (await client.get(f"/api/reports/{mine}", headers=viewer)).status_code == 200
        for hidden in (draft, theirs):
            assert (await client.get(f"/api/reports/{hidden}", headers=viewer)).status_code == 404
            assert (
                await client.get(f"/api/reports/{hidden}/download", headers=viewer)
            ).status_code == 404
        download = await client.get(f"/api/reports/{mine}/download", headers=viewer)
        assert download.status_code == 200
        basic = await headers_for(Role.BASIC_USER, org_id=org)
        assert (await client.get("/api/reports", headers=basic)).status_code == 403
        admin = await headers_for(Role.ADMIN, org_id=org)
        assert (
            await client.post("/api/reports", json=report_body(org), headers=admin)
        ).status_code == 403


class TestDashboard:
    async def test_the_rollup_equals_the_alerts_behind_it(
        self,
        client: httpx.AsyncClient,
        new_customer: NewOrg,
        headers_for: HeadersFor,
        admin_db: asyncpg.Connection,
        security_runtime: ServiceRuntime,
    ) -> None:
        org, other = await new_customer(), await new_customer()
        key = await headers_for(org_id=org, api_key=True)
        analyst, _ = await analysts(headers_for)
        ids = [
            (await ingest(client, key, severity=s))["id"]
            for s in ("critical", "high", "high", "medium", "low")
        ]
        batch = await client.post(
            "/api/alerts/batch",
            json={"alerts": [alert_body(severity="critical") for _ in range(3)]},
            headers=key,
        )
        assert batch.status_code == 200
        await client.post(f"/api/alerts/{ids[0]}/acknowledge", headers=analyst)
        await client.post(
            f"/api/alerts/{ids[1]}/resolve", json={"resolution": "true_positive"}, headers=analyst
        )
        await client.post(
            f"/api/alerts/{ids[2]}/resolve", json={"resolution": "benign"}, headers=analyst
        )
        await client.post(f"/api/alerts/{ids[2]}/reopen", json={"reason": "back"}, headers=analyst)
        await client.patch(f"/api/alerts/{ids[3]}", json={"severity": "critical"}, headers=analyst)
        await client.post(
            "/api/alerts/bulk",
            json={"ids": [ids[4]], "action": "resolve", "resolution": "duplicate"},
            headers=analyst,
        )
        other_key = await headers_for(org_id=other, api_key=True)
        await ingest(client, other_key, severity="critical")
        await intervention_event(security_runtime, org, uuid.uuid4(), version=1, done=False)

        board = await client.get(f"/api/dashboard?orgId={org}", headers=analyst)
        assert board.status_code == 200, board.text
        data = board.json()["data"]
        rows = await admin_db.fetch(
            "SELECT severity, status, first_seen_at, acknowledged_at, resolved_at "
            "FROM security.alerts WHERE org_id = $1",
            org,
        )
        names = {1: "low", 2: "medium", 3: "high", 4: "critical"}
        expected_open = {name: 0 for name in ("critical", "high", "medium", "low")}
        for r in rows:
            if r["status"] < 2:
                expected_open[names[r["severity"]]] += 1
        assert data["alerts"]["open"] == expected_open
        assert data["alerts"]["byStatus"] == {
            "open": sum(r["status"] == 0 for r in rows),
            "acknowledged": sum(r["status"] == 1 for r in rows),
            "resolved": sum(r["status"] == 2 for r in rows),
        }
        assert data["alerts"]["last24h"] == len(rows) == 8
        acked = [r for r in rows if r["acknowledged_at"]]
        mtta = sum((r["acknowledged_at"] - r["first_seen_at"]).total_seconds() for r in acked)
        assert data["alerts"]["mttaSeconds"] == pytest.approx(mtta / len(acked), abs=0.01)
        solved = [r for r in rows if r["resolved_at"]]
        mttr = sum((r["resolved_at"] - r["first_seen_at"]).total_seconds() for r in solved)
        assert data["alerts"]["mttrSeconds"] == pytest.approx(mttr / len(solved), abs=0.01)
        assert data["interventions"]["open"] == 1
        assert data["interventions"]["byStatus"]["requested"] == 1
        assert data["scope"] == {"organizationIds": 1}
        assert len(data["recent"]) <= 20
        assert {a["organizationId"] for a in data["recent"]} == {str(org)}

        customer = await headers_for(Role.BASIC_USER, org_id=org)
        own = (await client.get("/api/dashboard", headers=customer)).json()["data"]
        assert own["alerts"] == data["alerts"]
        assert own["scope"] == {"organizationIds": 1}
        refused = await client.get(f"/api/dashboard?orgId={other}", headers=customer)
        assert refused.status_code == 404

        everything = (await client.get("/api/dashboard", headers=analyst)).json()["data"]
        assert everything["alerts"]["open"]["critical"] >= expected_open["critical"] + 1

    async def test_the_rollup_counts_alerts_stored_by_any_path(
        self, admin_db: asyncpg.Connection, new_customer: NewOrg
    ) -> None:
        """The trigger keeps the rollup whatever the statement (here a raw multi-row one)."""
        org = await new_customer()
        before = await admin_db.fetchval(
            "SELECT coalesce(sum(alerts), 0) FROM security.dashboard_alert_counts "
            "WHERE org_id = $1",
            org,
        )
        assert before == 0
        now = datetime.now(UTC)
        await admin_db.execute(
            "INSERT INTO security.alerts (id, org_id, title, severity, category, source, "
            "fingerprint, first_seen_at, last_seen_at) SELECT gen_random_uuid(), $1, 't', 2, "
            "'other', 's', g::text, $2, $2 FROM generate_series(1, 5) g",
            org,
            now,
        )
        await admin_db.execute(
            "UPDATE security.alerts SET status = 2, resolved_at = $2 WHERE org_id = $1 "
            "AND fingerprint IN ('1', '2')",
            org,
            now + timedelta(seconds=30),
        )
        counts = {
            (r["status"]): r["alerts"]
            for r in await admin_db.fetch(
                "SELECT status, sum(alerts) AS alerts FROM security.dashboard_alert_counts "
                "WHERE org_id = $1 GROUP BY status HAVING sum(alerts) <> 0",
                org,
            )
        }
        assert counts == {0: 3, 2: 2}
        day = await admin_db.fetchrow(
            "SELECT sum(resolved) AS resolved, sum(resolve_seconds) AS resolve_seconds "
            "FROM security.dashboard_alert_days WHERE org_id = $1",
            org,
        )
        assert (day["resolved"], float(day["resolve_seconds"])) == (2, 60.0)
        # The all-organizations rollups are the per-organization ones summed.
        for all_table, org_table in (
            ("dashboard_all_counts", "dashboard_alert_counts"),
            ("dashboard_all_hours", "dashboard_alert_hours"),
        ):
            totals = [
                await admin_db.fetchval(f"SELECT coalesce(sum(alerts), 0) FROM security.{t}")  # noqa: S608
                for t in (all_table, org_table)
            ]
            assert totals[0] == totals[1]

    async def test_writers_of_one_organization_do_not_queue_on_its_rollup_rows(
        self, admin_db: asyncpg.Connection, app_db: AppDb, new_customer: NewOrg
    ) -> None:
        """Each connection adds to its own slot of a rollup key: a second writer's insert
        goes through while the first's transaction, holding its rows, is still open."""
        org = await new_customer()
        insert = (
            "INSERT INTO security.alerts (id, org_id, title, severity, category, source, "
            "fingerprint, first_seen_at, last_seen_at) VALUES (gen_random_uuid(), $1, 't', 3, "
            "'other', 's', $2, $3, $3)"
        )
        scope = "SELECT set_config('app.org_ids', $1, false)"
        now = datetime.now(UTC)
        first = await app_db("security")
        # A writer whose slot (pid & 15) differs from the first's.
        second = await app_db("security")
        while not (second.get_server_pid() ^ first.get_server_pid()) & 15:
            second = await app_db("security")
        for conn in (first, second):
            await conn.execute(scope, str(org))
        async with first.transaction():
            await first.execute(insert, org, "first", now)
            await second.execute("SET lock_timeout = '2s'")
            await second.execute(insert, org, "second", now)
        total = await admin_db.fetchval(
            "SELECT sum(alerts) FROM security.dashboard_alert_counts WHERE org_id = $1", org
        )
        assert total == 2


class TestMonthlyDrafts:
    async def test_last_months_draft_is_made_once_per_customer(
        self,
        new_customer: NewOrg,
        security_runtime: ServiceRuntime,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await new_customer()
        today = date(2031, 3, 1)
        first = await draft_due_reports(security_runtime.uow, today)
        assert first >= 1
        assert await draft_due_reports(security_runtime.uow, today) == 0
        rows = await admin_db.fetch(
            "SELECT type, status, report_period_start, report_period_end FROM security.reports "
            "WHERE org_id = $1 AND scheduled",
            org,
        )
        assert [tuple(r) for r in rows] == [
            ("monthly", "draft", date(2031, 2, 1), date(2031, 2, 28))
        ]
