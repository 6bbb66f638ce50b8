"""Technician access grants through the API, the expiry sweep and the technicians' scope."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from mss_contracts.events import EventEnvelope, TechnicianAccessGranted, parse_data
from mss_contracts.permissions import Role
from mss_db import OrgScope
from mss_organization.application.organizations import ensure_provider_organization
from mss_organization.application.technician_access import expire_due_grants
from mss_service import ServiceRuntime

Headers = dict[str, str]
Factory = Callable[..., Awaitable[Any]]
Body = Callable[..., dict[str, Any]]

pytestmark = pytest.mark.integration


def _window(**changes: Any) -> dict[str, Any]:
    return {"timezone": "UTC", "days": [1], "start": "08:00", "end": "18:00", **changes}


async def _expire_now(admin_db: asyncpg.Connection, grant_id: str) -> None:
    """Move a grant's expiry into the past (as if its time had come)."""
    await admin_db.execute(
        "UPDATE organization.technician_access SET expires_at = now() - interval '1 second' "
        "WHERE id = $1",
        uuid.UUID(grant_id),
    )


class TestGrant:
    async def test_super_admin_grants_access_and_the_event_names_the_customer(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        outbox_events: Factory,
    ) -> None:
        org_id = await new_customer()
        technician = await new_staff()
        window = {"timezone": "Europe/Paris", "days": [5, 1], "start": "22:00", "end": "06:00"}
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(
                technician,
                accessLevel="full",
                ipRestrictions=["10.0.0.1", "192.168.0.0/16"],
                timeRestrictions=window,
            ),
            headers=admin,
        )
        assert response.status_code == 201, response.text
        grant = response.json()["data"]
        assert grant["organizationId"] == org_id
        assert grant["technicianId"] == str(technician)
        assert grant["accessLevel"] == "full"
        assert grant["status"] == "active"
        assert grant["version"] == 1
        assert grant["ipRestrictions"] == ["10.0.0.1/32", "192.168.0.0/16"]
        assert grant["timeRestrictions"] == {**window, "days": [1, 5]}
        assert grant["revokedAt"] is None

        [event] = await outbox_events(grant["id"])
        envelope = EventEnvelope.model_validate(event)
        assert envelope.type == "technician_access.granted"
        assert str(envelope.organization_id) == org_id
        assert envelope.metadata.version == 1
        data = parse_data(envelope)
        assert isinstance(data, TechnicianAccessGranted)
        assert data.technician_id == technician
        assert data.allowed_services == ["ssh", "rdp"]
        assert data.time_restrictions is not None
        assert data.time_restrictions.timezone == "Europe/Paris"

    async def test_an_account_manager_grants_and_lists(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
    ) -> None:
        manager = await headers_for(Role.ACCOUNT_MANAGER)
        org_id, technician = await new_customer(), await new_staff()
        created = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(technician),
            headers=manager,
        )
        assert created.status_code == 201, created.text
        listed = await client.get(f"/api/organizations/{org_id}/technician-access", headers=manager)
        assert listed.status_code == 200
        assert [g["id"] for g in listed.json()["data"]] == [created.json()["data"]["id"]]

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"ipRestrictions": ["10.0.0.0/33"]}, "ipRestrictions"),
            ({"ipRestrictions": ["not-an-address"]}, "ipRestrictions"),
            ({"timeRestrictions": _window(timezone="Nowhere/City")}, "timeRestrictions.timezone"),
            ({"timeRestrictions": _window(days=[0, 8])}, "timeRestrictions.days"),
            ({"timeRestrictions": _window(start="8am")}, "timeRestrictions.start"),
            ({"timeRestrictions": _window(end="08:00")}, "timeRestrictions"),
            ({"allowedServices": []}, "allowedServices"),
            ({"allowedServices": ["SSH!"]}, "allowedServices[0]"),
            ({"accessLevel": "admin"}, "accessLevel"),
            ({"expiresAt": "tomorrow"}, "expiresAt"),
            ({"expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
            ({"technicianId": "nope"}, "technicianId"),
            ({"surprise": True}, "surprise"),
        ],
    )
    async def test_invalid_terms_are_a_422_naming_the_field(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        changes: dict[str, object],
        field: str,
    ) -> None:
        org_id, technician = await new_customer(), await new_staff()
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(technician, **changes),
            headers=admin,
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert field in body["details"], body["details"]

    @pytest.mark.parametrize(
        ("role", "status"),
        [
            (Role.SECURITY_ANALYST, "active"),
            (Role.TECHNICIAN, "inactive"),
            (Role.TECHNICIAN, "invited"),
            (None, None),
        ],
    )
    async def test_only_an_active_technician_can_be_granted(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        role: Role | None,
        status: str | None,
    ) -> None:
        org_id = await new_customer()
        user = await new_staff(role, status) if role and status else uuid.uuid4()
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(user),
            headers=admin,
        )
        assert response.status_code == 422, response.text
        assert set(response.json()["details"]) == {"technicianId"}

    async def test_the_provider_cannot_be_granted_and_an_unknown_org_is_404(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        admin: Headers,
        new_staff: Factory,
        org_runtime: ServiceRuntime,
    ) -> None:
        provider = await ensure_provider_organization("MSS Provider", uow_factory=org_runtime.uow)
        technician = await new_staff()
        refused = await client.post(
            f"/api/organizations/{provider.id}/technician-access",
            json=grant_body(technician),
            headers=admin,
        )
        assert refused.status_code == 422
        assert set(refused.json()["details"]) == {"organizationId"}
        unknown = await client.post(
            f"/api/organizations/{uuid.uuid4()}/technician-access",
            json=grant_body(technician),
            headers=admin,
        )
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "NOT_FOUND"


class TestPermissions:
    async def test_a_security_analyst_cannot_grant(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
    ) -> None:
        org_id, technician = await new_customer(), await new_staff()
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(technician),
            headers=await headers_for(Role.SECURITY_ANALYST),
        )
        assert response.status_code == 403
        assert response.json()["code"] == "FORBIDDEN"

    async def test_a_customer_admin_cannot_list_or_revoke_grants(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        org_id = await new_customer()
        grant = await new_grant(org_id, await new_staff())
        customer_admin = await headers_for(Role.ADMIN, org_id=org_id)
        for response in (
            await client.get(
                f"/api/organizations/{org_id}/technician-access", headers=customer_admin
            ),
            await client.get("/api/technician-access", headers=customer_admin),
            await client.post(
                f"/api/technician-access/{grant['id']}/revoke",
                json={"reason": "mine"},
                headers=customer_admin,
            ),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "FORBIDDEN"

    async def test_a_technician_cannot_grant_itself_access(
        self,
        grant_body: Body,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
    ) -> None:
        org_id, technician = await new_customer(), await new_staff()
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(technician),
            headers=await headers_for(Role.TECHNICIAN, user_id=technician),
        )
        assert response.status_code == 403


class TestList:
    async def test_filters_by_technician_and_status(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        org_id = await new_customer()
        first, second = await new_staff(), await new_staff()
        kept = await new_grant(org_id, first)
        revoked = await new_grant(org_id, second)
        await client.post(
            f"/api/technician-access/{revoked['id']}/revoke",
            json={"reason": "done"},
            headers=admin,
        )
        url = f"/api/organizations/{org_id}/technician-access"
        everything = (await client.get(url, headers=admin)).json()
        assert everything["meta"] == {"total": 2, "page": 1, "limit": 20, "totalPages": 1}
        by_technician = await client.get(url, params={"technicianId": str(first)}, headers=admin)
        assert [g["id"] for g in by_technician.json()["data"]] == [kept["id"]]
        active = await client.get(url, params={"status": "active"}, headers=admin)
        assert [g["id"] for g in active.json()["data"]] == [kept["id"]]
        gone = await client.get(url, params={"status": "revoked"}, headers=admin)
        assert [g["id"] for g in gone.json()["data"]] == [revoked["id"]]
        bad = await client.get(url, params={"status": "paused"}, headers=admin)
        assert bad.status_code == 422
        assert "status" in bad.json()["details"]

    async def test_a_technician_sees_its_own_grants_only(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        first_org, second_org = await new_customer(), await new_customer()
        me, colleague = await new_staff(), await new_staff()
        # One of mine does not admit me right now (address), another is revoked: all listed.
        mine = [
            await new_grant(first_org, me),
            await new_grant(second_org, me, ipRestrictions=["203.0.113.0/24"]),
        ]
        revoked = await new_grant(first_org, me)
        await client.post(
            f"/api/technician-access/{revoked['id']}/revoke", json={"reason": "x"}, headers=admin
        )
        await new_grant(first_org, colleague)
        headers = await headers_for(Role.TECHNICIAN, user_id=me)

        own = await client.get("/api/technician-access", headers=headers)
        assert own.status_code == 200, own.text
        assert {g["id"] for g in own.json()["data"]} == {g["id"] for g in mine} | {revoked["id"]}
        theirs = await client.get(
            "/api/technician-access", params={"technicianId": str(colleague)}, headers=headers
        )
        assert theirs.json()["data"] == []
        assert theirs.json()["meta"]["total"] == 0
        by_org = await client.get(
            "/api/technician-access",
            params={"orgId": second_org, "status": "active"},
            headers=headers,
        )
        assert [g["id"] for g in by_org.json()["data"]] == [mine[1]["id"]]

    async def test_super_admin_lists_every_grant_by_organization(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        org_id = await new_customer()
        grants = [await new_grant(org_id, await new_staff()) for _ in range(3)]
        page = await client.get(
            "/api/technician-access", params={"orgId": org_id, "limit": 2}, headers=admin
        )
        assert page.status_code == 200
        body = page.json()
        assert body["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
        # Newest first.
        assert [g["id"] for g in body["data"]] == [grants[2]["id"], grants[1]["id"]]

    async def test_listing_an_unknown_organization_is_404(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get(
            f"/api/organizations/{uuid.uuid4()}/technician-access", headers=admin
        )
        assert response.status_code == 404


class TestRevoke:
    async def test_revoke_then_revoke_again(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
        outbox_events: Factory,
    ) -> None:
        org_id = await new_customer()
        technician = await new_staff()
        grant = await new_grant(org_id, technician)
        revoked = await client.post(
            f"/api/technician-access/{grant['id']}/revoke",
            json={"reason": "contract ended"},
            headers=admin,
        )
        assert revoked.status_code == 200, revoked.text
        data = revoked.json()["data"]
        assert data["status"] == "revoked"
        assert data["revokedReason"] == "contract ended"
        assert data["revokedAt"] is not None
        assert data["version"] == 2

        again = await client.post(
            f"/api/technician-access/{grant['id']}/revoke", json={"reason": "x"}, headers=admin
        )
        assert again.status_code == 409
        assert again.json()["code"] == "INVALID_STATE_TRANSITION"

        events = await outbox_events(grant["id"])
        assert [e["type"] for e in events] == [
            "technician_access.granted",
            "technician_access.revoked",
        ]
        assert events[1]["metadata"]["version"] == 2
        assert events[1]["organizationId"] == org_id
        assert events[1]["data"]["reason"] == "contract ended"
        assert events[1]["data"]["technicianId"] == str(technician)

    async def test_revoke_needs_a_reason_and_a_known_grant(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        grant = await new_grant(await new_customer(), await new_staff())
        missing = await client.post(
            f"/api/technician-access/{grant['id']}/revoke", json={}, headers=admin
        )
        assert missing.status_code == 422
        assert "reason" in missing.json()["details"]
        unknown = await client.post(
            f"/api/technician-access/{uuid.uuid4()}/revoke", json={"reason": "x"}, headers=admin
        )
        assert unknown.status_code == 404


class TestExpiry:
    async def test_a_grant_past_its_expiry_reads_expired_then_the_sweep_records_it(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        admin_db: asyncpg.Connection,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
        outbox_events: Factory,
        org_runtime: ServiceRuntime,
    ) -> None:
        org_id = await new_customer()
        grant = await new_grant(org_id, await new_staff())
        await _expire_now(admin_db, grant["id"])
        url = f"/api/organizations/{org_id}/technician-access"

        # Before the sweep: the row is still 'active' but every answer says expired.
        listed = (await client.get(url, headers=admin)).json()["data"]
        assert [g["status"] for g in listed] == ["expired"]
        expired = await client.get(url, params={"status": "expired"}, headers=admin)
        assert [g["id"] for g in expired.json()["data"]] == [grant["id"]]
        active = await client.get(url, params={"status": "active"}, headers=admin)
        assert active.json()["data"] == []
        late = await client.post(
            f"/api/technician-access/{grant['id']}/revoke", json={"reason": "x"}, headers=admin
        )
        assert late.status_code == 409

        assert await expire_due_grants(org_runtime.uow) >= 1
        row = await admin_db.fetchrow(
            "SELECT status, version FROM organization.technician_access WHERE id = $1",
            uuid.UUID(grant["id"]),
        )
        assert (row["status"], row["version"]) == ("expired", 2)
        events = await outbox_events(grant["id"])
        assert [e["type"] for e in events] == [
            "technician_access.granted",
            "technician_access.expired",
        ]
        assert events[1]["metadata"]["version"] == 2
        assert events[1]["organizationId"] == org_id

    async def test_concurrent_sweeps_announce_each_expiry_once(
        self,
        admin_db: asyncpg.Connection,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
        outbox_events: Factory,
        org_runtime: ServiceRuntime,
    ) -> None:
        org_id = await new_customer()
        grants = [await new_grant(org_id, await new_staff()) for _ in range(5)]
        for grant in grants:
            await _expire_now(admin_db, grant["id"])
        await asyncio.gather(*(expire_due_grants(org_runtime.uow, batch=2) for _ in range(4)))
        while await expire_due_grants(org_runtime.uow):
            pass
        for grant in grants:
            types = [e["type"] for e in await outbox_events(grant["id"])]
            assert types.count("technician_access.expired") == 1, types


class TestTechnicianScope:
    async def test_the_runtime_widens_a_technician_scope_to_admitting_grants_only(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
        org_runtime: ServiceRuntime,
    ) -> None:
        lookup = org_runtime.auth.grants
        assert lookup is not None, "build_runtime must pass grants_table"
        open_org, fenced_org, other_org = (
            uuid.UUID(await new_customer()),
            uuid.UUID(await new_customer()),
            uuid.UUID(await new_customer()),
        )
        technician = await new_staff()
        grant = await new_grant(str(open_org), technician)
        await new_grant(str(fenced_org), technician, ipRestrictions=["10.0.0.0/8"])
        await new_grant(str(other_org), await new_staff())
        now = datetime.now(UTC)

        assert await lookup.granted_orgs(technician, ip="192.0.2.1", now=now) == {open_org}
        assert await lookup.granted_orgs(technician, ip="10.1.2.3", now=now) == {
            open_org,
            fenced_org,
        }
        later = now + timedelta(days=2)
        assert await lookup.granted_orgs(technician, ip="10.1.2.3", now=later) == frozenset()

        await client.post(
            f"/api/technician-access/{grant['id']}/revoke", json={"reason": "x"}, headers=admin
        )
        assert await lookup.granted_orgs(technician, ip="10.1.2.3", now=now) == {fenced_org}

    async def test_rls_keeps_one_customers_grants_from_another(
        self,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
        org_runtime: ServiceRuntime,
    ) -> None:
        mine, theirs = await new_customer(), await new_customer()
        await new_grant(mine, await new_staff())
        await new_grant(theirs, await new_staff())
        async with org_runtime.uow(OrgScope.of([uuid.UUID(mine)])) as uow:
            orgs = {
                str(row.org_id)
                for row in await uow.conn.execute(
                    text("SELECT * FROM organization.technician_access")
                )
            }
        assert orgs == {mine}
        async with org_runtime.uow(OrgScope.of([])) as uow:
            count = text("SELECT count(*) FROM organization.technician_access")
            assert (await uow.conn.execute(count)).scalar_one() == 0
