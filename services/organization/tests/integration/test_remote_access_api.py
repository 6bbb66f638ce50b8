"""Remote access sessions: admitted only inside an active grant, listed by who may see them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from mss_contracts.permissions import Role
from mss_organization.application.technician_access import expire_due_grants
from mss_service import ServiceRuntime

pytestmark = pytest.mark.integration

Headers = dict[str, str]
Factory = Callable[..., Awaitable[Any]]

URL = "/api/remote-access-sessions"


def _session_body(org_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "organizationId": org_id,
        "service": "ssh",
        "justification": "apply the vendor hotfix",
        **changes,
    }


def _from(address: str, headers: Headers) -> Headers:
    """The request as the gateway forwards it from `address` (X-Real-IP, trusted peer)."""
    return {**headers, "X-Real-IP": address}


async def _start(
    client: httpx.AsyncClient, headers: Headers, org_id: str, **changes: Any
) -> httpx.Response:
    return await client.post(URL, json=_session_body(org_id, **changes), headers=headers)


class TestStart:
    async def test_without_a_grant_the_technician_is_forbidden(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
    ) -> None:
        technician = await new_staff()
        headers = await headers_for(Role.TECHNICIAN, user_id=technician)
        for org_id in (await new_customer(), str(uuid.uuid4())):
            response = await _start(client, headers, org_id)
            assert response.status_code == 403, response.text
            body = response.json()
            assert body["code"] == "FORBIDDEN"
            assert body["error"] == "no active technician access grant for this organization"

    async def test_a_matching_grant_opens_a_session_and_announces_it(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
        outbox_events: Factory,
    ) -> None:
        org_id = await new_customer()
        technician = await new_staff()
        grant = await new_grant(org_id, technician, ipRestrictions=["10.20.0.0/16"])
        headers = _from("10.20.30.40", await headers_for(Role.TECHNICIAN, user_id=technician))
        intervention = str(uuid.uuid4())
        response = await _start(client, headers, org_id, interventionId=intervention)
        assert response.status_code == 201, response.text
        session = response.json()["data"]
        assert session["status"] == "active"
        assert session["grantId"] == grant["id"]
        assert session["organizationId"] == org_id
        assert session["technicianId"] == str(technician)
        assert session["clientIp"] == "10.20.30.40"
        assert session["interventionId"] == intervention
        assert session["endedAt"] is None

        [event] = await outbox_events(session["id"])
        assert event["type"] == "remote_access.session.started"
        assert event["organizationId"] == org_id
        assert event["metadata"]["version"] == 1
        assert event["metadata"]["userId"] == str(technician)
        assert event["data"]["grantId"] == grant["id"]
        assert event["data"]["service"] == "ssh"
        assert event["data"]["interventionId"] == intervention

    async def test_a_service_outside_the_grant_is_refused_with_its_reason(
        self,
        client: httpx.AsyncClient,
        granted_technician: Factory,
    ) -> None:
        org_id, _technician, _grant, headers = await granted_technician(allowedServices=["rdp"])
        response = await _start(client, headers, org_id, service="ssh")
        assert response.status_code == 403
        assert "service 'ssh' is not allowed" in response.json()["details"]["reason"]
        assert (await _start(client, headers, org_id, service="rdp")).status_code == 201

    async def test_an_address_outside_the_restrictions_is_refused(
        self,
        client: httpx.AsyncClient,
        granted_technician: Factory,
    ) -> None:
        org_id, _technician, _grant, headers = await granted_technician(
            ipRestrictions=["10.0.0.0/8"]
        )
        outside = await _start(client, _from("203.0.113.9", headers), org_id)
        assert outside.status_code == 403
        assert "IP restrictions" in outside.json()["details"]["reason"]
        # Without X-Real-IP the gateway peer itself (127.0.0.1) is the client: outside too.
        assert (await _start(client, headers, org_id)).status_code == 403
        assert (await _start(client, _from("10.9.8.7", headers), org_id)).status_code == 201

    async def test_a_day_outside_the_time_restrictions_is_refused(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        org_id, technician = await new_customer(), await new_staff()
        today = datetime.now(UTC).isoweekday()
        # Neither today nor tomorrow (should the test straddle midnight).
        days = [d for d in range(1, 8) if d not in {today, today % 7 + 1}]
        await new_grant(
            org_id,
            technician,
            timeRestrictions={"timezone": "UTC", "days": days, "start": "00:00", "end": "23:59"},
        )
        headers = await headers_for(Role.TECHNICIAN, user_id=technician)
        response = await _start(client, headers, org_id)
        assert response.status_code == 403
        assert "time restrictions" in response.json()["details"]["reason"]

    async def test_inside_the_time_window_is_admitted(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Factory,
    ) -> None:
        org_id, technician = await new_customer(), await new_staff()
        now = datetime.now(UTC)
        window = {
            "timezone": "UTC",
            "days": list(range(1, 8)),
            "start": (now - timedelta(hours=1)).strftime("%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%H:%M"),
        }
        await new_grant(org_id, technician, timeRestrictions=window)
        headers = await headers_for(Role.TECHNICIAN, user_id=technician)
        assert (await _start(client, headers, org_id)).status_code == 201

    async def test_a_revoked_grant_admits_nothing_and_its_sessions_end(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        outbox_events: Factory,
        granted_technician: Factory,
    ) -> None:
        org_id, _technician, grant, headers = await granted_technician()
        session = (await _start(client, headers, org_id)).json()["data"]
        revoked = await client.post(
            f"/api/technician-access/{grant['id']}/revoke",
            json={"reason": "incident closed"},
            headers=admin,
        )
        assert revoked.status_code == 200

        refused = await _start(client, headers, org_id)
        assert refused.status_code == 403
        assert refused.json()["error"] == "no active technician access grant for this organization"

        mine = (await client.get(URL, headers=headers)).json()["data"]
        [ended] = [s for s in mine if s["id"] == session["id"]]
        assert ended["status"] == "ended"
        assert ended["endedReason"] == "grant revoked"
        events = await outbox_events(session["id"])
        assert [e["type"] for e in events] == [
            "remote_access.session.started",
            "remote_access.session.ended",
        ]
        assert events[1]["metadata"]["version"] == 2
        assert events[1]["data"]["reason"] == "grant revoked"
        [revocation] = [
            e for e in await outbox_events(grant["id"]) if e["type"] == "technician_access.revoked"
        ]
        assert events[1]["metadata"]["causationId"] == revocation["id"]

    async def test_an_expired_grant_admits_nothing_and_the_sweep_ends_its_sessions(
        self,
        client: httpx.AsyncClient,
        admin_db: asyncpg.Connection,
        outbox_events: Factory,
        org_runtime: ServiceRuntime,
        granted_technician: Factory,
    ) -> None:
        org_id, _technician, grant, headers = await granted_technician()
        session = (await _start(client, headers, org_id)).json()["data"]
        await admin_db.execute(
            "UPDATE organization.technician_access SET expires_at = now() - interval '1 second' "
            "WHERE id = $1",
            uuid.UUID(grant["id"]),
        )
        # Past its expiry, before the sweep has run.
        refused = await _start(client, headers, org_id)
        assert refused.status_code == 403
        assert refused.json()["details"]["reason"] == "grant expired"

        await expire_due_grants(org_runtime.uow)
        after = await _start(client, headers, org_id)
        assert after.status_code == 403
        events = await outbox_events(session["id"])
        assert events[-1]["type"] == "remote_access.session.ended"
        assert events[-1]["data"]["reason"] == "grant expired"
        assert events[-1]["data"]["endedBy"] is None

    async def test_a_start_waits_for_a_revoke_in_flight_and_is_then_refused(
        self,
        client: httpx.AsyncClient,
        admin_db: asyncpg.Connection,
        granted_technician: Factory,
    ) -> None:
        org_id, _technician, grant, headers = await granted_technician()
        revoke = admin_db.transaction()
        await revoke.start()
        try:
            await admin_db.execute(
                "SELECT 1 FROM organization.technician_access WHERE id = $1 FOR UPDATE",
                uuid.UUID(grant["id"]),
            )
            request = asyncio.create_task(_start(client, headers, org_id))
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(10), wait=wait_fixed(0.02), reraise=True
            ):
                with attempt:
                    # Activity is snapshotted per transaction: drop ours to see it move.
                    await admin_db.execute("SELECT pg_stat_clear_snapshot()")
                    waiting = await admin_db.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%technician_access%FOR SHARE%'"
                    )
                    assert waiting >= 1
            assert not request.done()
            await admin_db.execute(
                "UPDATE organization.technician_access "
                "SET status = 'revoked', version = version + 1 WHERE id = $1",
                uuid.UUID(grant["id"]),
            )
        finally:
            await revoke.commit()
        response = await request
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "no active technician access grant for this organization"

    async def test_a_customer_user_and_an_analyst_cannot_open_sessions(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_customer: Factory,
    ) -> None:
        org_id = await new_customer()
        for headers in (
            await headers_for(Role.ADMIN, org_id=org_id),
            await headers_for(Role.SECURITY_ANALYST),
        ):
            response = await _start(client, headers, org_id)
            assert response.status_code == 403

    async def test_bad_bodies_are_422(
        self, client: httpx.AsyncClient, headers_for: Factory, new_staff: Factory
    ) -> None:
        headers = await headers_for(Role.TECHNICIAN, user_id=await new_staff())
        response = await client.post(
            URL,
            json={"organizationId": "x", "service": "", "justification": ""},
            headers=headers,
        )
        assert response.status_code == 422
        assert {"organizationId", "service", "justification"} <= response.json()["details"].keys()


class TestEnd:
    async def test_the_technician_ends_its_session_once(
        self,
        client: httpx.AsyncClient,
        headers_for: Factory,
        new_staff: Factory,
        outbox_events: Factory,
        granted_technician: Factory,
    ) -> None:
        org_id, technician, _grant, headers = await granted_technician()
        session = (await _start(client, headers, org_id)).json()["data"]

        colleague = await headers_for(Role.TECHNICIAN, user_id=await new_staff())
        foreign = await client.post(f"{URL}/{session['id']}/end", headers=colleague)
        assert foreign.status_code == 404

        ended = await client.post(
            f"{URL}/{session['id']}/end", json={"reason": "work done"}, headers=headers
        )
        assert ended.status_code == 200, ended.text
        data = ended.json()["data"]
        assert data["status"] == "ended"
        assert data["endedBy"] == str(technician)
        assert data["endedReason"] == "work done"
        assert data["version"] == 2
        again = await client.post(f"{URL}/{session['id']}/end", headers=headers)
        assert again.status_code == 409
        assert again.json()["code"] == "INVALID_STATE_TRANSITION"
        types = [e["type"] for e in await outbox_events(session["id"])]
        assert types == ["remote_access.session.started", "remote_access.session.ended"]

    async def test_a_super_admin_ends_anyones_session(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        granted_technician: Factory,
    ) -> None:
        org_id, _technician, _grant, headers = await granted_technician()
        session = (await _start(client, headers, org_id)).json()["data"]
        ended = await client.post(f"{URL}/{session['id']}/end", headers=admin)
        assert ended.status_code == 200
        assert ended.json()["data"]["status"] == "ended"
        unknown = await client.post(f"{URL}/{uuid.uuid4()}/end", headers=admin)
        assert unknown.status_code == 404


class TestList:
    async def test_each_caller_sees_what_it_may(
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
        for org_id in (first_org, second_org):
            await new_grant(org_id, me)
            await new_grant(org_id, colleague)
        my_headers = await headers_for(Role.TECHNICIAN, user_id=me)
        their_headers = await headers_for(Role.TECHNICIAN, user_id=colleague)
        mine = [
            (await _start(client, my_headers, org)).json()["data"]
            for org in (first_org, second_org)
        ]
        theirs = [
            (await _start(client, their_headers, org)).json()["data"]
            for org in (first_org, second_org)
        ]

        # A technician: its own sessions, every organization.
        own = await client.get(URL, headers=my_headers)
        assert own.status_code == 200
        assert {s["id"] for s in own.json()["data"]} == {s["id"] for s in mine}
        other = await client.get(URL, params={"technicianId": str(colleague)}, headers=my_headers)
        assert other.json()["data"] == []

        # The customer's admin (audit:read): its own organization's sessions, everyone's.
        customer_admin = await headers_for(Role.ADMIN, org_id=first_org)
        customers = await client.get(URL, headers=customer_admin)
        assert customers.status_code == 200, customers.text
        assert {s["id"] for s in customers.json()["data"]} == {mine[0]["id"], theirs[0]["id"]}
        peek = await client.get(URL, params={"organizationId": second_org}, headers=customer_admin)
        assert peek.json()["data"] == []

        # The super admin: every organization, filtered at will.
        by_org = await client.get(
            URL,
            params={"organizationId": second_org, "technicianId": str(colleague)},
            headers=admin,
        )
        assert [s["id"] for s in by_org.json()["data"]] == [theirs[1]["id"]]
        await client.post(f"{URL}/{mine[0]['id']}/end", headers=my_headers)
        active = await client.get(
            URL, params={"organizationId": first_org, "status": "active"}, headers=admin
        )
        assert [s["id"] for s in active.json()["data"]] == [theirs[0]["id"]]

    async def test_users_without_either_permission_are_forbidden(
        self, client: httpx.AsyncClient, headers_for: Factory, new_customer: Factory
    ) -> None:
        org_id = await new_customer()
        for role in (Role.SECURITY_ANALYST, Role.ACCOUNT_MANAGER):
            response = await client.get(URL, headers=await headers_for(role))
            assert response.status_code == 403
        viewer = await headers_for(Role.REPORT_VIEWER, org_id=org_id)
        assert (await client.get(URL, headers=viewer)).status_code == 403
