"""Every answer through the gateway is the API envelope (API.md "Envelope").

Errors of every origin (unknown route, unknown id, wrong method, bad body, malformed
JSON, malformed id, the gateway's own refusals) carry status + `success false`, `error`,
`code`, `timestamp`, `path`, the field names in `details` where validation failed, an
`X-Request-ID` header, and nothing internal (no stack trace, no SQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

OrganizationFactory = Callable[..., dict[str, Any]]
LEAKS = ("Traceback", "sqlalchemy", "asyncpg", 'File "', "psycopg", "INSERT INTO", "SELECT ")


def assert_error_envelope(
    response: httpx.Response, status: int, code: str, path: str
) -> dict[str, Any]:
    """The response is the error envelope with this status, code and path; returns it."""
    assert response.status_code == status, response.text
    assert response.headers.get("x-request-id"), "every response carries X-Request-ID"
    assert response.headers["content-type"].startswith("application/json")
    for leak in LEAKS:
        assert leak.lower() not in response.text.lower(), f"{leak!r} leaked: {response.text}"
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["path"] == path
    assert isinstance(body["error"], str)
    assert body["error"]
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    return body


@dataclass(frozen=True)
class ErrorCase:
    """One request that must fail with this status and code."""

    method: str
    path: str
    status: int
    code: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    detail_fields: frozenset[str] | None = None

    def send(self, client: httpx.Client) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if self.content is not None else {}
        return client.request(
            self.method,
            self.path,
            json=self.json,
            content=self.content,
            params=self.params,
            headers=headers,
        )


UNKNOWN_ID = str(uuid.uuid4())

ERROR_CASES: dict[str, ErrorCase] = {
    "unknown_route_under_organizations_prefix": ErrorCase(
        "GET", f"/api/organizations/{UNKNOWN_ID}/nope", 404, "NOT_FOUND"
    ),
    "unknown_route_under_audit_prefix": ErrorCase("GET", "/api/audit/nope", 404, "NOT_FOUND"),
    "unknown_organization_id": ErrorCase(
        "GET", f"/api/organizations/{UNKNOWN_ID}", 404, "NOT_FOUND"
    ),
    "unknown_organization_id_settings": ErrorCase(
        "GET", f"/api/organizations/{UNKNOWN_ID}/settings", 404, "NOT_FOUND"
    ),
    "delete_on_organizations_collection": ErrorCase(
        "DELETE", "/api/organizations", 405, "METHOD_NOT_ALLOWED"
    ),
    "post_on_audit_logs": ErrorCase("POST", "/api/audit/logs", 405, "METHOD_NOT_ALLOWED"),
    "invalid_organization_body": ErrorCase(
        "POST",
        "/api/organizations",
        422,
        "VALIDATION_ERROR",
        json={"name": "", "domain": "not a domain", "ssoEnabled": "perhaps", "type": "provider"},
        detail_fields=frozenset({"name", "domain", "ssoEnabled", "type"}),
    ),
    "missing_organization_name_and_unknown_field": ErrorCase(
        "POST",
        "/api/organizations",
        422,
        "VALIDATION_ERROR",
        json={"bogus": 1},
        detail_fields=frozenset({"name", "bogus"}),
    ),
    "invalid_nested_settings": ErrorCase(
        "PUT",
        f"/api/organizations/{UNKNOWN_ID}/settings",
        422,
        "VALIDATION_ERROR",
        json={"sessionIdleMinutes": "soon", "slaTargets": {"critical": -1}},
        detail_fields=frozenset({"sessionIdleMinutes", "slaTargets.critical"}),
    ),
    "body_not_an_object": ErrorCase(
        "POST", "/api/organizations", 422, "VALIDATION_ERROR", json=["a", "list"]
    ),
    "malformed_json": ErrorCase(
        "POST", "/api/organizations", 400, "BAD_REQUEST", content=b'{"name": '
    ),
    "malformed_organization_id": ErrorCase(
        "GET",
        "/api/organizations/not-a-uuid",
        422,
        "VALIDATION_ERROR",
        detail_fields=frozenset({"id"}),
    ),
    "malformed_aggregate_id": ErrorCase(
        "GET",
        "/api/audit/events",
        422,
        "VALIDATION_ERROR",
        params={"aggregateId": "not-a-uuid"},
        detail_fields=frozenset({"aggregateId"}),
    ),
    "malformed_org_id_filter": ErrorCase(
        "GET",
        "/api/audit/verify",
        422,
        "VALIDATION_ERROR",
        params={"orgId": "42"},
        detail_fields=frozenset({"orgId"}),
    ),
    "out_of_range_pagination": ErrorCase(
        "GET",
        "/api/organizations",
        422,
        "VALIDATION_ERROR",
        params={"page": "0", "limit": "1000"},
        detail_fields=frozenset({"page", "limit"}),
    ),
    "nul_character_in_body": ErrorCase(
        "POST",
        "/api/organizations",
        422,
        "VALIDATION_ERROR",
        json={"name": "nul\u0000inside"},
        detail_fields=frozenset({"name"}),
    ),
    "nul_character_in_query": ErrorCase(
        "GET",
        "/api/organizations",
        422,
        "VALIDATION_ERROR",
        params={"q": "nul\u0000inside"},
        detail_fields=frozenset({"q"}),
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_service_error_is_an_envelope(api: httpx.Client, case: ErrorCase) -> None:
    response = case.send(api)

    body = assert_error_envelope(response, case.status, case.code, case.path)
    if case.detail_fields is not None:
        assert set(body["details"]) == case.detail_fields, body
        assert all(isinstance(message, str) and message for message in body["details"].values())


def test_validation_error_on_an_existing_organization_names_the_field(
    api: httpx.Client, create_organization: OrganizationFactory
) -> None:
    org = create_organization("envelope-update")
    path = f"/api/organizations/{org['id']}"

    response = api.put(path, json={"name": "x" * 256})

    body = assert_error_envelope(response, 422, "VALIDATION_ERROR", path)
    assert set(body["details"]) == {"name"}
    unchanged = api.get(path)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["data"]["name"] == org["name"]


GATEWAY_CASES: dict[str, tuple[str, str, dict[str, str], int, str]] = {
    "no_token_on_protected_route": (
        "GET",
        "/api/organizations",
        {},
        401,
        "AUTHENTICATION_REQUIRED",
    ),
    "garbage_token_on_protected_route": (
        "GET",
        "/api/audit/logs",
        {"Authorization": "Bearer not-a-jwt"},
        401,
        "INVALID_TOKEN",
    ),
    "path_outside_every_prefix": ("GET", "/no/such/place", {}, 404, "NOT_FOUND"),
    "wrong_method_on_gateway_health": ("POST", "/health", {}, 405, "METHOD_NOT_ALLOWED"),
}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    GATEWAY_CASES.values(),
    ids=GATEWAY_CASES.keys(),
)
def test_gateway_made_error_is_an_envelope(
    gateway: httpx.Client, method: str, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    response = gateway.request(method, path, headers=headers)

    assert_error_envelope(response, status, code, path)


def test_successes_are_envelopes_with_request_ids(api: httpx.Client) -> None:
    created = api.post("/api/organizations", json={"name": f"envelope-{uuid.uuid4().hex[:12]}"})
    assert created.status_code == 201, created.text
    assert created.headers.get("x-request-id")
    assert created.json()["success"] is True

    listed = api.get("/api/organizations", params={"page": "1", "limit": "5"})
    assert listed.status_code == 200, listed.text
    assert listed.headers.get("x-request-id")
    body = listed.json()
    assert body["success"] is True
    assert isinstance(body["data"], list)
    assert len(body["data"]) <= 5
    assert body["meta"]["page"] == 1
    assert body["meta"]["limit"] == 5
    assert body["meta"]["total"] >= 1
    assert body["meta"]["totalPages"] >= 1

    logs = api.get("/api/audit/logs", params={"limit": "2"})
    assert logs.status_code == 200, logs.text
    assert logs.headers.get("x-request-id")
    log_body = logs.json()
    assert log_body["success"] is True
    assert log_body["meta"]["limit"] == 2
    assert "nextCursor" in log_body["meta"]


def test_request_ids_differ_between_responses(api: httpx.Client) -> None:
    first = api.get("/api/organizations/not-a-uuid")
    second = api.get("/api/organizations/not-a-uuid")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]
