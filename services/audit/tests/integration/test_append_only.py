"""The audit log is append-only and tamper-evident; its API pages, filters and scopes it.

Entries are written the way the audit worker writes them (`apply_once` + `record_event`
through the service's own units of work); the API runs with its lifespan in process.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from mss_audit.application.anchors import anchor_once, anchors_broken
from mss_audit.application.records import record_event
from mss_audit.main import build_runtime, create_app
from mss_auth.tokens import KeyLoader
from mss_bus import apply_once
from mss_contracts.events import (
    EventContext,
    EventEnvelope,
    LoginFailed,
    OrganizationUpdated,
    new_event,
)
from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import AppDb, TokenFactory, running

pytestmark = pytest.mark.integration

TABLES = ("audit_logs", "events")


@dataclass
class Audit:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> ServiceRuntime:
        runtime = self.app.state.runtime
        assert isinstance(runtime, ServiceRuntime)
        return runtime

    async def record(self, envelope: EventEnvelope) -> None:
        """What the audit worker does with a delivered event."""
        assert await apply_once(self.runtime.uow, envelope, record_event)

    async def record_history(self, org_id: uuid.UUID, *, updates: int, failures: int) -> list[str]:
        """`updates` organization.updated then `failures` auth.login.failed; their entry ids."""
        envelopes = [_updated(org_id, version) for version in range(2, 2 + updates)]
        envelopes += [_login_failed(org_id) for _ in range(failures)]
        for envelope in envelopes:
            await self.record(envelope)
        return [await self.entry_id(envelope.id) for envelope in envelopes]

    async def entry_id(self, event_id: uuid.UUID) -> str:
        async with self.runtime.uow(OrgScope.everything()) as uow:
            found = await uow.conn.execute(
                text("SELECT id FROM audit.audit_logs WHERE event_id = :e"), {"e": event_id}
            )
            return str(found.scalar_one())


def _updated(org_id: uuid.UUID, version: int) -> EventEnvelope:
    return new_event(
        OrganizationUpdated(
            name=f"Org v{version}",
            type=OrganizationType.CUSTOMER,
            status="active",
            changed=["name"],
        ),
        aggregate_id=org_id,
        organization_id=org_id,
        version=version,
        context=EventContext(user_id=uuid.uuid4(), ip_address="198.51.100.4"),
    )


def _login_failed(org_id: uuid.UUID) -> EventEnvelope:
    return new_event(
        LoginFailed(email="someone@example.com", reason="invalid_credentials"),
        aggregate_id=uuid.uuid4(),
        organization_id=org_id,
        version=1,
        context=EventContext(),
    )


@pytest.fixture
async def audit(platform_settings: PlatformSettings, key_loader: KeyLoader) -> AsyncIterator[Audit]:
    app = create_app(lambda: build_runtime(key_loader))
    async with running(app) as client:
        yield Audit(app=app, client=client)


async def _bearer(mint_token: TokenFactory, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {await mint_token(**claims)}"}


async def _attempt(conn: asyncpg.Connection, statement: str, *args: object) -> str:
    """One statement in a transaction of its own (rolled back if it fails)."""
    async with conn.transaction():
        result: str = await conn.execute(statement, *args)
        return result


async def _verify(
    audit: Audit, headers: dict[str, str], org_id: uuid.UUID | None = None
) -> httpx.Response:
    params = {"orgId": str(org_id)} if org_id else {}
    return await audit.client.get("/api/audit/verify", params=params, headers=headers)


# --- append-only ---------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
async def test_audit_app_role_may_neither_update_nor_delete_audit_records(
    table: str, audit: Audit, app_db: AppDb
) -> None:
    org_id = uuid.uuid4()
    await audit.record_history(org_id, updates=1, failures=0)
    column = "action" if table == "audit_logs" else "type"
    audit_app_db = await app_db("audit")
    await audit_app_db.execute("SELECT set_config('app.all_orgs', 'on', false)")
    assert (
        await audit_app_db.fetchval(
            f"SELECT count(*) FROM audit.{table} WHERE org_id = $1",  # noqa: S608
            org_id,
        )
        == 1
    ), "the app role reads the row it may not change"

    for statement in (
        f"UPDATE audit.{table} SET {column} = 'forged' WHERE org_id = $1",  # noqa: S608
        f"DELETE FROM audit.{table} WHERE org_id = $1",  # noqa: S608
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await _attempt(audit_app_db, statement, org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await _attempt(audit_app_db, f"TRUNCATE audit.{table}")


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("as_owner", [False, True], ids=["superuser", "audit_owner"])
async def test_even_the_owner_path_cannot_change_audit_records_while_triggers_run(
    table: str, as_owner: bool, audit: Audit, admin_db: asyncpg.Connection
) -> None:
    org_id = uuid.uuid4()
    await audit.record_history(org_id, updates=1, failures=0)
    column = "action" if table == "audit_logs" else "type"
    if as_owner:  # the role migrations run as: owner of the tables, with RLS forced on it
        await admin_db.execute("SET ROLE audit_owner")
        await admin_db.execute("SELECT set_config('app.all_orgs', 'on', false)")
    for statement in (
        f"UPDATE audit.{table} SET {column} = 'forged' WHERE org_id = $1",  # noqa: S608
        f"DELETE FROM audit.{table} WHERE org_id = $1",  # noqa: S608
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await _attempt(admin_db, statement, org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await _attempt(admin_db, f"TRUNCATE audit.{table}")
    await admin_db.execute("RESET ROLE")
    assert (
        await admin_db.fetchval(
            f"SELECT count(*) FROM audit.{table} WHERE org_id = $1 AND {column} <> 'forged'",  # noqa: S608
            org_id,
        )
        == 1
    )


# --- the hash chain ------------------------------------------------------------------------


async def test_row_altered_behind_the_triggers_is_named_by_verify(
    audit: Audit, admin_db: asyncpg.Connection, mint_token: TokenFactory
) -> None:
    admin = await _bearer(mint_token)
    tampered_org, untouched_org = uuid.uuid4(), uuid.uuid4()
    entries = await audit.record_history(tampered_org, updates=3, failures=1)
    await audit.record_history(untouched_org, updates=2, failures=0)

    before = await _verify(audit, admin, tampered_org)
    assert before.status_code == 200, before.text
    assert before.json()["data"] == {"valid": True, "checked": 4, "firstBrokenId": None}

    victim = entries[1]
    original = await admin_db.fetchval(
        "SELECT details::text FROM audit.audit_logs WHERE id = $1", uuid.UUID(victim)
    )

    async def rewrite(details: str) -> None:
        # Only a superuser can switch triggers off (replica mode) for its session.
        async with admin_db.transaction():
            await admin_db.execute("SET LOCAL session_replication_role = replica")
            status = await admin_db.execute(
                "UPDATE audit.audit_logs SET details = $2::jsonb WHERE id = $1",
                uuid.UUID(victim),
                details,
            )
            assert status == "UPDATE 1"

    await rewrite('{"data": {"name": "nothing to see here"}}')
    try:
        broken = await _verify(audit, admin, tampered_org)
        assert broken.status_code == 200
        assert broken.json()["data"] == {"valid": False, "checked": 4, "firstBrokenId": victim}

        untouched = await _verify(audit, admin, untouched_org)
        assert untouched.json()["data"] == {"valid": True, "checked": 2, "firstBrokenId": None}
    finally:
        await rewrite(original)  # leave the shared test database's chains intact
    restored = await _verify(audit, admin, tampered_org)
    assert restored.json()["data"]["valid"] is True, "the hash covers exactly the content"


# --- reading the log -----------------------------------------------------------------------


async def test_super_admin_pages_through_an_orgs_log_with_the_cursor(
    audit: Audit, mint_token: TokenFactory
) -> None:
    admin = await _bearer(mint_token)
    org_id = uuid.uuid4()
    entries = await audit.record_history(org_id, updates=3, failures=2)

    seen: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(len(entries)):  # bounded: never more pages than entries
        params = {"orgId": str(org_id), "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = await audit.client.get("/api/audit/logs", params=params, headers=admin)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["success"] is True
        assert body["meta"]["limit"] == 2
        seen += body["data"]
        sizes.append(len(body["data"]))
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            break
    assert cursor is None, "the last page has no next cursor"
    assert sizes == [2, 2, 1]
    assert [e["id"] for e in seen] == list(reversed(entries)), "newest first, each once"
    assert [e["seq"] for e in seen] == [5, 4, 3, 2, 1]
    assert {e["organizationId"] for e in seen} == {str(org_id)}

    exact = await audit.client.get(
        "/api/audit/logs", params={"orgId": str(org_id), "limit": "5"}, headers=admin
    )
    assert [e["id"] for e in exact.json()["data"]] == list(reversed(entries))
    assert exact.json()["meta"]["nextCursor"] is None, "a page that just fits is the last"

    bad = await audit.client.get("/api/audit/logs", params={"cursor": "%%%"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["code"] == "VALIDATION_ERROR"


async def test_super_admin_filters_the_log_by_action_and_failure(
    audit: Audit, mint_token: TokenFactory
) -> None:
    admin = await _bearer(mint_token)
    org_id = uuid.uuid4()
    entries = await audit.record_history(org_id, updates=3, failures=2)
    updates, failures = entries[:3], entries[3:]

    async def ids(**params: str) -> list[str]:
        response = await audit.client.get(
            "/api/audit/logs", params={"orgId": str(org_id), **params}, headers=admin
        )
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["data"]]

    assert await ids(action="organization.updated") == list(reversed(updates))
    assert await ids(action="auth.login.failed") == list(reversed(failures))
    assert await ids(success="false") == list(reversed(failures))
    assert await ids(success="true") == list(reversed(updates))
    assert await ids(action="organization.updated", success="false") == []

    failed = await audit.client.get(
        "/api/audit/logs", params={"orgId": str(org_id), "success": "false"}, headers=admin
    )
    entry = failed.json()["data"][0]
    assert entry["success"] is False
    assert entry["errorMessage"] == "invalid_credentials"
    assert entry["resourceType"] == "user"


async def test_customer_admin_sees_only_its_own_orgs_log(
    audit: Audit, mint_token: TokenFactory
) -> None:
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    entries_a = await audit.record_history(org_a, updates=2, failures=1)
    await audit.record_history(org_b, updates=2, failures=1)
    customer = await _bearer(
        mint_token, role=Role.ADMIN, org_type=OrganizationType.CUSTOMER, org_id=org_a
    )

    own = await audit.client.get("/api/audit/logs", params={"limit": "100"}, headers=customer)
    assert own.status_code == 200, own.text
    assert [e["id"] for e in own.json()["data"]] == list(reversed(entries_a))
    assert own.json()["meta"]["nextCursor"] is None

    asked_for_b = await audit.client.get(
        "/api/audit/logs", params={"orgId": str(org_b)}, headers=customer
    )
    assert asked_for_b.status_code == 200
    assert asked_for_b.json()["data"] == [], "row-level security: B's entries do not exist"

    hidden = await _verify(audit, customer, org_b)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "NOT_FOUND"

    mine = await _verify(audit, customer, org_a)
    assert mine.status_code == 200
    assert mine.json()["data"] == {"valid": True, "checked": 3, "firstBrokenId": None}
    everything_visible = await _verify(audit, customer)
    assert everything_visible.json()["data"]["checked"] == 3, "only its own chain is walked"


async def test_customer_user_without_audit_read_is_forbidden(
    audit: Audit, mint_token: TokenFactory
) -> None:
    viewer = await _bearer(mint_token, role=Role.REPORT_VIEWER, org_type=OrganizationType.CUSTOMER)
    response = await audit.client.get("/api/audit/logs", headers=viewer)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    anonymous = await audit.client.get("/api/audit/verify")
    assert anonymous.status_code == 401


# --- export --------------------------------------------------------------------------------


async def test_export_streams_every_matching_entry_as_jsonl_or_csv(
    audit: Audit, mint_token: TokenFactory
) -> None:
    admin = await _bearer(mint_token)
    org_id = uuid.uuid4()
    entries = await audit.record_history(org_id, updates=3, failures=2)

    jsonl = await audit.client.get(
        "/api/audit/logs/export", params={"orgId": str(org_id)}, headers=admin
    )
    assert jsonl.status_code == 200, jsonl.text
    assert jsonl.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [line["id"] for line in lines] == list(reversed(entries))

    failures = await audit.client.get(
        "/api/audit/logs/export",
        params={"orgId": str(org_id), "format": "csv", "success": "false"},
        headers=admin,
    )
    assert failures.status_code == 200, failures.text
    assert failures.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(failures.text)))
    assert [row["id"] for row in rows] == list(reversed(entries[3:]))
    assert {row["success"] for row in rows} == {"false"}
    assert {row["action"] for row in rows} == {"auth.login.failed"}

    bad = await audit.client.get("/api/audit/logs/export", params={"format": "xml"}, headers=admin)
    assert bad.status_code == 422


async def test_a_customer_admin_exports_only_its_own_organization(
    audit: Audit, mint_token: TokenFactory
) -> None:
    own, other = uuid.uuid4(), uuid.uuid4()
    mine = await audit.record_history(own, updates=2, failures=0)
    await audit.record_history(other, updates=2, failures=0)
    admin = await _bearer(
        mint_token, role=Role.ADMIN, org_id=own, org_type=OrganizationType.CUSTOMER
    )
    for params in ({}, {"orgId": str(other)}):
        export = await audit.client.get("/api/audit/logs/export", params=params, headers=admin)
        assert export.status_code == 200, export.text
        ids = [json.loads(line)["id"] for line in export.text.splitlines()]
        assert set(ids) <= set(mine)
        assert str(other) not in export.text
    assert {
        json.loads(x)["id"]
        for x in (await audit.client.get("/api/audit/logs/export", headers=admin)).text.splitlines()
    } == set(mine)


async def test_a_rewritten_chain_tail_is_caught_by_the_anchor_file(
    audit: Audit, admin_db: asyncpg.Connection, mint_token: TokenFactory, tmp_path: Path
) -> None:
    """Dropping a chain's newest entries leaves a consistent chain: only an anchor kept
    outside the database shows that the chain once reached further."""
    anchor_file = tmp_path / "anchors.jsonl"
    org_id = uuid.uuid4()
    entries = await audit.record_history(org_id, updates=3, failures=0)
    heads = await anchor_once(audit.runtime.uow, anchor_file, {})
    line = json.loads(anchor_file.read_text().splitlines()[-1])
    chain_key = str(
        await admin_db.fetchval(
            "SELECT chain_key FROM audit.audit_logs WHERE id = $1", uuid.UUID(entries[-1])
        )
    )
    assert line["heads"][chain_key]["seq"] == 3
    # Nothing moved: the next anchoring writes no line.
    await anchor_once(audit.runtime.uow, anchor_file, heads)
    assert len(anchor_file.read_text().splitlines()) == 1
    assert chain_key not in await anchors_broken(audit.runtime.uow, anchor_file)

    async with admin_db.transaction():
        await admin_db.execute("SET LOCAL session_replication_role = replica")
        await admin_db.execute("DELETE FROM audit.audit_logs WHERE id = $1", uuid.UUID(entries[-1]))
    admin = await _bearer(mint_token)
    still_valid = await _verify(audit, admin, org_id)
    assert still_valid.json()["data"]["valid"] is True, "a cut tail is a consistent chain"
    assert chain_key in await anchors_broken(audit.runtime.uow, anchor_file)
