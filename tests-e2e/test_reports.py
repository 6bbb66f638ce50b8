"""Reports through the gateway (API.md "Domain resources → Reports"): an analyst drafts,
another approves (four eyes), the PDF is rendered once at /publish and every download
serves those bytes, customers see their own published reports only, downloads are audited.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pypdf
import pytest
from support import TokenMinter, assert_data, assert_error, bearer, eventually

REPORTS = "/api/reports"
AUDIT_DEADLINE_S = 10
TODAY = datetime.now(UTC).date()


def _alert(org_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organizationId": org_id,
        "title": "Credential stuffing against the VPN",
        "description": "Many failed logins from one ASN",
        "severity": "high",
        "category": "intrusion",
        "source": "e2e-reports",
        "sourceRef": uuid.uuid4().hex,
    }
    body.update(changes)
    return body


def _report(org_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organizationId": org_id,
        "title": "Monthly security report",
        "type": "monthly",
        "reportPeriodStart": (TODAY - timedelta(days=2)).isoformat(),
        "reportPeriodEnd": TODAY.isoformat(),
        "summary": "Where things stand.",
        "findings": [
            {
                "title": "VPN brute force",
                "severity": "high",
                "description": "Sustained attempts.",
                "recommendation": "Rate-limit and require MFA.",
            }
        ],
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def customer(create_organization: Any) -> dict[str, Any]:
    org: dict[str, Any] = create_organization("e2e-reports")
    return org


@pytest.fixture(scope="module")
def other(create_organization: Any) -> dict[str, Any]:
    org: dict[str, Any] = create_organization("e2e-reports-other")
    return org


@pytest.fixture(scope="module")
def analysts(minter: TokenMinter, provider_org_id: str) -> tuple[dict[str, str], dict[str, str]]:
    def one() -> dict[str, str]:
        return bearer(minter.mint(org=provider_org_id, role="security_analyst").token)

    return one(), one()


def _publish(api: httpx.Client, author: dict[str, str], reviewer: dict[str, str], org: str) -> Any:
    report = assert_data(api.post(REPORTS, json=_report(org), headers=author), 201)
    rid = report["id"]
    assert_data(api.post(f"{REPORTS}/{rid}/submit", headers=author))
    assert_data(api.post(f"{REPORTS}/{rid}/approve", headers=reviewer))
    return assert_data(api.post(f"{REPORTS}/{rid}/publish", headers=author))


def test_the_four_eyes_workflow_and_metrics_equal_to_the_ingested_alerts(
    api: httpx.Client,
    customer: dict[str, Any],
    analysts: tuple[dict[str, str], dict[str, str]],
) -> None:
    author, reviewer = analysts
    org = customer["id"]
    made = [
        assert_data(api.post("/api/alerts", json=_alert(org, severity=s)), 201)
        for s in ("critical", "high", "low")
    ]
    assert_data(
        api.post(
            f"/api/alerts/{made[0]['id']}/resolve",
            json={"resolution": "false_positive"},
            headers=reviewer,
        )
    )
    report = assert_data(api.post(REPORTS, json=_report(org), headers=author), 201)
    listed = assert_data(
        api.get(
            "/api/alerts",
            params={
                "orgId": org,
                "from": f"{(TODAY - timedelta(days=2)).isoformat()}T00:00:00Z",
                "to": f"{(TODAY + timedelta(days=1)).isoformat()}T00:00:00Z",
                "limit": 200,
            },
        )
    )
    metrics = report["metrics"]["alerts"]
    assert metrics["total"] == len(listed)
    for severity in ("critical", "high", "medium", "low"):
        assert metrics["bySeverity"][severity] == sum(a["severity"] == severity for a in listed)
    assert metrics["falsePositives"] == sum(a["resolution"] == "false_positive" for a in listed)
    assert metrics["resolved"] == sum(a["status"] == "resolved" for a in listed)

    rid = report["id"]
    assert_data(api.post(f"{REPORTS}/{rid}/submit", headers=author))
    assert_error(api.post(f"{REPORTS}/{rid}/approve", headers=author), 403, "FOUR_EYES_REQUIRED")
    refused = assert_error(
        api.put(f"{REPORTS}/{rid}", json={"title": "late edit"}, headers=author),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert refused["details"] == {"status": "in_review"}
    back = assert_data(
        api.post(f"{REPORTS}/{rid}/reject", json={"reason": "Add context"}, headers=reviewer)
    )
    assert (back["status"], back["rejectionReason"]) == ("draft", "Add context")
    assert_data(api.put(f"{REPORTS}/{rid}", json={"summary": "With context."}, headers=author))
    assert_data(api.post(f"{REPORTS}/{rid}/submit", headers=author))
    approved = assert_data(api.post(f"{REPORTS}/{rid}/approve", headers=reviewer))
    assert approved["status"] == "approved"
    published = assert_data(api.post(f"{REPORTS}/{rid}/publish", headers=author))
    assert published["status"] == "published"
    assert len(published["contentSha256"]) == 64
    assert_error(
        api.post(f"{REPORTS}/{rid}/publish", headers=author), 409, "INVALID_STATE_TRANSITION"
    )


def test_downloads_serve_the_published_bytes_every_time_and_are_audited(
    api: httpx.Client,
    minter: TokenMinter,
    customer: dict[str, Any],
    analysts: tuple[dict[str, str], dict[str, str]],
) -> None:
    author, reviewer = analysts
    published = _publish(api, author, reviewer, customer["id"])
    rid, sha = published["id"], published["contentSha256"]
    viewer = bearer(minter.customer(customer["id"], role="report_viewer").token)
    bodies = []
    for headers in (author, reviewer, viewer):
        response = api.get(f"{REPORTS}/{rid}/download", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"].startswith("attachment")
        bodies.append(response.content)
    assert {hashlib.sha256(b).hexdigest() for b in bodies} == {sha}
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(bodies[0])).pages)
    assert customer["name"] in text
    assert TODAY.isoformat() in text

    for attempt in eventually(AUDIT_DEADLINE_S, 0.25):
        with attempt:
            logs = api.get("/api/audit/logs", params={"resourceId": rid, "limit": 100})
            actions = [entry["action"] for entry in assert_data(logs)]
            assert actions.count("security.report.downloaded") == 3, actions


def test_customers_see_list_and_download_only_their_published_reports(
    api: httpx.Client,
    minter: TokenMinter,
    customer: dict[str, Any],
    other: dict[str, Any],
    analysts: tuple[dict[str, str], dict[str, str]],
) -> None:
    author, reviewer = analysts
    mine = _publish(api, author, reviewer, customer["id"])["id"]
    theirs = _publish(api, author, reviewer, other["id"])["id"]
    draft = assert_data(api.post(REPORTS, json=_report(customer["id"]), headers=author), 201)["id"]

    admin = bearer(minter.customer(customer["id"], role="admin").token)
    listed = assert_data(api.get(REPORTS, params={"limit": 100}, headers=admin))
    ids = {r["id"] for r in listed}
    assert mine in ids
    assert not ids & {theirs, draft}
    assert {r["status"] for r in listed} == {"published"}
    assert {r["organizationId"] for r in listed} == {customer["id"]}
    for hidden in (theirs, draft):
        assert_error(api.get(f"{REPORTS}/{hidden}", headers=admin), 404, "NOT_FOUND")
        assert_error(api.get(f"{REPORTS}/{hidden}/download", headers=admin), 404, "NOT_FOUND")
    assert_error(api.post(REPORTS, json=_report(customer["id"]), headers=admin), 403, "FORBIDDEN")
    # Provider staff download a draft, DRAFT-marked.
    response = api.get(f"{REPORTS}/{draft}/download", headers=author)
    assert response.status_code == 200
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert "DRAFT" in text


def test_an_escalation_counts_in_a_report_drafted_right_after_it(
    api: httpx.Client,
    create_organization: Any,
    analysts: tuple[dict[str, str], dict[str, str]],
) -> None:
    """Once the intervention exists (API.md: within 2 s of the escalation), a report
    counts it at once: the read model asks the intervention service for one it lacks."""
    author, _ = analysts
    org = create_organization("e2e-reports-escalated")["id"]
    alert = assert_data(api.post("/api/alerts", json=_alert(org)), 201)
    escalated = assert_data(
        api.post(
            f"/api/alerts/{alert['id']}/escalate",
            json={"priority": "high", "type": "incident_response"},
        ),
        202,
    )
    for attempt in eventually(5, 0.1):
        with attempt:
            found = api.get(f"/api/interventions/{escalated['interventionId']}")
            assert found.status_code == 200, found.text
    report = assert_data(api.post(REPORTS, json=_report(org), headers=author), 201)
    assert report["metrics"]["interventions"]["total"] == 1
    assert report["metrics"]["alerts"]["total"] == 1
