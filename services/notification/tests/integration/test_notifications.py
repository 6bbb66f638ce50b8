"""Events in, notifications out (who is told, preferences, dedup), and the inbox API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from mss_bus import EventConsumer
from mss_contracts.events import (
    AlertAssigned,
    EventEnvelope,
    InterventionRequested,
    ReportPublished,
    ReportSubmitted,
)
from mss_contracts.permissions import Role
from mss_db import OrgScope
from mss_notification.adapters.inbox import MailQueue, StoredNotification
from mss_notification.application.mails import BURST, send_digests, send_due_mails
from mss_notification.config import SERVICE
from mss_notification.consumers.on_event import BINDINGS, EventHandler, OwnerNotReachable
from mss_service import ServiceRuntime
from mss_testing.plugin import AppDb, eventually

from .conftest import RecordingMailer, World, alert, envelope

pytestmark = pytest.mark.integration


async def inbox(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> list[dict]:  # type: ignore[type-arg]
    response = await client.get(f"/api/notifications{query}", headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict] = response.json()["data"]  # type: ignore[type-arg]
    return data


async def test_a_critical_alert_through_the_bus_tells_admins_viewers_and_analysts_only(
    world: World, runtime: ServiceRuntime, handler: EventHandler, client: httpx.AsyncClient
) -> None:
    org, other = await world.org(), await world.org()
    admin, viewer = await world.user(Role.ADMIN, org), await world.user(Role.REPORT_VIEWER, org)
    requester = await world.user(Role.REQUEST_USER, org)
    analyst = await world.user(Role.SECURITY_ANALYST, world.provider)
    other_admin = await world.user(Role.ADMIN, other)
    applied: list[uuid.UUID] = []

    async def handle(event: EventEnvelope) -> None:
        await handler(event)
        applied.append(event.id)

    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)
    await consumer.start()
    event = envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org)
    await runtime.bus.publish(
        routing_key=event.type,
        body=event.model_dump_json(by_alias=True).encode(),
        message_id=str(event.id),
    )

    async def applied_once() -> None:
        assert event.id in applied

    await eventually(applied_once)
    for user in (admin, viewer, analyst):
        [notice] = await inbox(client, await world.headers(user))
        assert notice["type"] == "security.alert.created"
        assert notice["severity"] == "critical"
        assert notice["organizationId"] == str(org)
        assert notice["resourceType"] == "alert"
        assert notice["resourceId"] == str(event.aggregate_id)
        assert notice["userId"] == str(user)
        assert notice["readAt"] is None
    for user in (requester, other_admin):
        assert await inbox(client, await world.headers(user)) == []


async def test_a_high_alert_skips_analysts_and_a_medium_one_tells_nobody(
    world: World, handler: EventHandler, client: httpx.AsyncClient
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    analyst = await world.user(Role.SECURITY_ANALYST, world.provider)
    await handler(envelope(alert("high"), aggregate_id=uuid.uuid4(), org_id=org))
    await handler(envelope(alert("medium"), aggregate_id=uuid.uuid4(), org_id=org))
    assert [n["severity"] for n in await inbox(client, await world.headers(admin))] == ["high"]
    assert await inbox(client, await world.headers(analyst)) == []


async def test_the_org_minimum_severity_is_the_organizations_setting(
    world: World, handler: EventHandler, client: httpx.AsyncClient
) -> None:
    org = await world.org(settings={"notificationDefaults": {"minAlertSeverity": "low"}})
    admin = await world.user(Role.ADMIN, org)
    await handler(envelope(alert("low"), aggregate_id=uuid.uuid4(), org_id=org))
    assert [n["severity"] for n in await inbox(client, await world.headers(admin))] == ["low"]


async def test_a_redelivered_event_makes_no_second_notification_nor_mail(
    world: World,
    handler: EventHandler,
    client: httpx.AsyncClient,
    mailer: RecordingMailer,
    runtime: ServiceRuntime,
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    event = envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org)
    assert await handler(event) is True
    assert await handler(event) is False
    assert len(await inbox(client, await world.headers(admin))) == 1
    await send_due_mails(runtime.uow, mailer=mailer)
    assert len(mailer.to(world.email(admin))) == 1


async def test_a_batch_applies_its_events_in_order_once_each_and_pushes_after_commit(
    world: World,
    runtime: ServiceRuntime,
    mailer: RecordingMailer,
    client: httpx.AsyncClient,
) -> None:
    pushed: list[StoredNotification] = []

    async def push(created: list[StoredNotification]) -> None:
        pushed.extend(created)

    handler = EventHandler(
        uow=runtime.uow, mailer=mailer, public_url="http://127.0.0.1:8080", push=push
    )
    org = await world.org()
    admin, joined = world.joining(Role.ADMIN, org)
    first, second = (
        envelope(alert("critical", title=f"batch {i}"), aggregate_id=uuid.uuid4(), org_id=org)
        for i in range(2)
    )
    # The user joins earlier in the same batch: the alerts after it find them.
    fresh = await handler.batch([joined, first, first, second])
    assert [e.id for e in fresh] == [joined.id, first.id, second.id]
    titles = {n["title"] for n in await inbox(client, await world.headers(admin))}
    assert len(titles) == 2
    # (Provider analysts of earlier tests are told of critical alerts too.)
    to_admin = [n.resource_id for n in pushed if n.user_id == admin]
    assert sorted(to_admin) == sorted([first.aggregate_id, second.aggregate_id])
    # Redelivered, the batch changes nothing and pushes nothing.
    pushed.clear()
    assert await handler.batch([joined, first, second]) == []
    assert len(await inbox(client, await world.headers(admin))) == 2
    assert pushed == []


async def test_a_batch_over_many_organizations_tells_each_only_its_own_people(
    world: World, handler: EventHandler, client: httpx.AsyncClient
) -> None:
    """The batch's reads are made once for all its organizations (Lookups): what each
    event is told from them stays its own organization's, threshold included."""
    one, two = await world.org(), await world.org()
    strict = await world.org(settings={"notificationDefaults": {"minAlertSeverity": "critical"}})
    admin_one, admin_two = await world.user(Role.ADMIN, one), await world.user(Role.ADMIN, two)
    viewer_two = await world.user(Role.REPORT_VIEWER, two)
    admin_strict = await world.user(Role.ADMIN, strict)
    events = [
        envelope(
            alert("high", title=f"high in {org.hex[:6]}"), aggregate_id=uuid.uuid4(), org_id=org
        )
        for org in (one, two, strict)
    ]
    events.append(
        envelope(alert("critical", title="critical"), aggregate_id=uuid.uuid4(), org_id=strict)
    )
    assert len(await handler.batch(events)) == 4
    expected = {
        admin_one: (one, [f"high in {one.hex[:6]}"]),
        admin_two: (two, [f"high in {two.hex[:6]}"]),
        viewer_two: (two, [f"high in {two.hex[:6]}"]),
        admin_strict: (strict, ["critical"]),
    }
    for user, (org, titles) in expected.items():
        notices = await inbox(client, await world.headers(user))
        assert [n["title"].split(": ", 1)[1] for n in notices] == titles
        assert {n["organizationId"] for n in notices} == {str(org)}


async def test_assignments_steps_and_reports_reach_the_people_api_md_names(
    world: World, handler: EventHandler, client: httpx.AsyncClient
) -> None:
    org = await world.org()
    admin, requester = await world.user(Role.ADMIN, org), await world.user(Role.REQUEST_USER, org)
    viewer = await world.user(Role.REPORT_VIEWER, org)
    analyst = await world.user(Role.SECURITY_ANALYST, world.provider)
    author = await world.user(Role.SECURITY_ANALYST, world.provider)
    manager = await world.user(Role.ACCOUNT_MANAGER, world.provider)
    tech = await world.user(Role.TECHNICIAN, world.provider)
    stranger = await world.user(Role.ADMIN, await world.org())  # another customer's user
    now = datetime(2030, 1, 1, tzinfo=UTC)
    base = {
        "title": "Patch",
        "priority": "high",
        "type": "maintenance",
        "status": "requested",
        "requestedBy": str(requester),
        "responseDueAt": now.isoformat(),
        "resolutionDueAt": now.isoformat(),
    }
    await handler(
        envelope(InterventionRequested.model_validate(base), aggregate_id=uuid.uuid4(), org_id=org)
    )
    snap = alert("low").model_dump(by_alias=True, mode="json")
    await handler(
        envelope(
            AlertAssigned.model_validate({**snap, "assignedTo": str(tech)}),
            aggregate_id=uuid.uuid4(),
            org_id=org,
        )
    )
    # An assignee outside the event's organization who is not provider staff is never told.
    await handler(
        envelope(
            AlertAssigned.model_validate({**snap, "assignedTo": str(stranger)}),
            aggregate_id=uuid.uuid4(),
            org_id=org,
        )
    )
    report = {
        "title": "January",
        "type": "monthly",
        "generatedBy": str(author),
        "reportPeriodStart": "2030-01-01",
        "reportPeriodEnd": "2030-01-31",
    }
    await handler(
        envelope(
            ReportSubmitted.model_validate({**report, "status": "in_review"}),
            aggregate_id=uuid.uuid4(),
            org_id=org,
        )
    )
    await handler(
        envelope(
            ReportPublished.model_validate(
                {**report, "status": "published", "contentSha256": "0" * 64}
            ),
            aggregate_id=uuid.uuid4(),
            org_id=org,
        )
    )

    async def types(user: uuid.UUID) -> list[str]:
        return sorted(n["type"] for n in await inbox(client, await world.headers(user)))

    assert await types(requester) == ["intervention.requested", "security.report.published"]
    assert "intervention.requested" in await types(analyst)
    assert "security.report.submitted" in await types(analyst)
    assert "security.report.submitted" not in await types(author)
    assert await types(tech) == ["security.alert.assigned"]
    assert await types(stranger) == []
    assert await types(viewer) == ["security.report.published"]
    assert await types(admin) == ["security.report.published"]
    assert await types(manager) == []


async def test_an_assignee_the_directory_lacks_with_identity_down_is_retried_not_dropped(
    world: World, handler: EventHandler
) -> None:
    org = await world.org()
    snap = alert("low").model_dump(by_alias=True, mode="json")
    event = envelope(
        AlertAssigned.model_validate({**snap, "assignedTo": str(uuid.uuid4())}),
        aggregate_id=uuid.uuid4(),
        org_id=org,
    )
    # The owner is unreachable in these tests: a transient failure (the consumer retries).
    with pytest.raises(OwnerNotReachable):
        await handler(event)
    assert isinstance(OwnerNotReachable("x"), ConnectionError)


async def test_inbox_pages_by_cursor_filters_unread_and_since_and_marks_read(
    world: World,
    handler: EventHandler,
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    headers = await world.headers(admin)
    for i in range(5):
        await handler(
            envelope(alert("critical", title=f"alert {i}"), aggregate_id=uuid.uuid4(), org_id=org)
        )
    first = await client.get("/api/notifications?limit=2", headers=headers)
    body = first.json()
    assert [n["title"] for n in body["data"]] == [
        "New critical alert: alert 4",
        "New critical alert: alert 3",
    ]
    assert body["meta"]["limit"] == 2
    titles = [n["title"] for n in body["data"]]
    cursor = body["meta"]["nextCursor"]
    while cursor:
        page = (
            await client.get(f"/api/notifications?limit=2&cursor={cursor}", headers=headers)
        ).json()
        titles += [n["title"] for n in page["data"]]
        cursor = page["meta"]["nextCursor"]
    assert titles == [f"New critical alert: alert {i}" for i in (4, 3, 2, 1, 0)]

    oldest = body["data"][1]
    since = (await client.get("/api/notifications", headers=headers)).json()["data"][2]["createdAt"]
    newer = await inbox(client, headers, f"?since={since.replace('+', '%2B')}")
    assert [n["title"] for n in newer] == titles[:2]

    read = await client.post(f"/api/notifications/{oldest['id']}/read", headers=headers)
    assert read.status_code == 200
    assert read.json()["data"]["readAt"] is not None
    assert len(await inbox(client, headers, "?unread=true")) == 4
    all_read = await client.post("/api/notifications/read-all", headers=headers)
    assert all_read.json()["data"] == {"updated": 4}
    assert await inbox(client, headers, "?unread=true") == []
    again = await client.post("/api/notifications/read-all", headers=headers)
    assert again.json()["data"] == {"updated": 0}


async def test_another_users_notification_is_a_404_and_bad_input_a_422(
    world: World, handler: EventHandler, client: httpx.AsyncClient
) -> None:
    org = await world.org()
    admin, viewer = await world.user(Role.ADMIN, org), await world.user(Role.REPORT_VIEWER, org)
    await handler(envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org))
    [theirs] = await inbox(client, await world.headers(admin))
    mine = await world.headers(viewer)
    refused = await client.post(f"/api/notifications/{theirs['id']}/read", headers=mine)
    assert refused.status_code == 404
    assert refused.json()["code"] == "NOT_FOUND"
    assert (
        await client.post("/api/notifications/not-a-uuid/read", headers=mine)
    ).status_code == 422
    bad_cursor = await client.get("/api/notifications?cursor=zzz", headers=mine)
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.json()["details"]
    assert (await client.get("/api/notifications?limit=0", headers=mine)).status_code == 422
    assert (await client.get("/api/notifications")).status_code == 401


async def test_notifications_of_another_tenant_are_invisible_to_the_app_role(
    world: World, handler: EventHandler, app_db: AppDb
) -> None:
    org = await world.org()
    await world.user(Role.ADMIN, org)
    await handler(envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org))
    conn: asyncpg.Connection = await app_db("notification")
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.org_ids', $1, true)", str(uuid.uuid4()))
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM notification.notifications WHERE subject_org_id = $1", org
            )
            == 0
        )
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.org_ids', $1, true)", str(org))
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM notification.notifications WHERE subject_org_id = $1", org
            )
            == 1
        )


class TestPreferences:
    async def test_defaults_come_from_the_organization_and_put_is_audited(
        self, world: World, client: httpx.AsyncClient, admin_db: asyncpg.Connection
    ) -> None:
        org = await world.org(
            settings={"notificationDefaults": {"email": False, "minAlertSeverity": "medium"}}
        )
        admin = await world.user(Role.ADMIN, org)
        headers = await world.headers(admin)
        got = (await client.get("/api/notifications/preferences", headers=headers)).json()["data"]
        assert got == {
            "channels": {"inApp": True, "email": False},
            "minAlertSeverity": "medium",
            "quietHours": None,
            "digest": "off",
            "mutedTypes": [],
        }
        put = await client.put(
            "/api/notifications/preferences",
            headers=headers,
            json={
                "quietHours": {"timezone": "Europe/Paris", "start": "22:00", "end": "07:00"},
                "digest": "daily",
                "mutedTypes": ["intervention.started"],
            },
        )
        assert put.status_code == 200, put.text
        assert put.json()["data"]["quietHours"] == {
            "timezone": "Europe/Paris",
            "start": "22:00",
            "end": "07:00",
        }
        again = (await client.get("/api/notifications/preferences", headers=headers)).json()["data"]
        assert again == put.json()["data"]
        events = await admin_db.fetch(
            "SELECT payload FROM notification.outbox"
            " WHERE event_type = 'notification.preferences.updated'"
            " AND payload->>'aggregateId' = $1",
            str(admin),
        )
        assert len(events) == 1

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (
                {"quietHours": {"timezone": "Nowhere/Land", "start": "22:00", "end": "07:00"}},
                "timezone",
            ),
            ({"quietHours": {"timezone": "UTC", "start": "25:00", "end": "07:00"}}, "start"),
            ({"mutedTypes": ["not.an.event"]}, "mutedTypes"),
            ({"digest": "weekly"}, "digest"),
        ],
    )
    async def test_bad_preferences_are_a_422_naming_the_field(
        self, world: World, client: httpx.AsyncClient, body: dict[str, object], field: str
    ) -> None:
        user = await world.user(Role.ADMIN, await world.org())
        response = await client.put(
            "/api/notifications/preferences", headers=await world.headers(user), json=body
        )
        assert response.status_code == 422
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert any(field in key for key in response.json()["details"]), response.json()

    async def test_in_app_off_and_muted_types_hold_notifications_back(
        self,
        world: World,
        client: httpx.AsyncClient,
        handler: EventHandler,
        mailer: RecordingMailer,
        runtime: ServiceRuntime,
    ) -> None:
        org = await world.org()
        quiet, muted = await world.user(Role.ADMIN, org), await world.user(Role.REPORT_VIEWER, org)
        r1 = await client.put(
            "/api/notifications/preferences",
            headers=await world.headers(quiet),
            json={"channels": {"inApp": False, "email": True}},
        )
        r2 = await client.put(
            "/api/notifications/preferences",
            headers=await world.headers(muted),
            json={"mutedTypes": ["security.alert.created"]},
        )
        assert (r1.status_code, r2.status_code) == (200, 200)
        await handler(envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org))
        assert await inbox(client, await world.headers(quiet)) == []
        assert await inbox(client, await world.headers(muted)) == []
        await send_due_mails(runtime.uow, mailer=mailer)
        assert len(mailer.to(world.email(quiet))) == 1  # mail still on
        assert mailer.to(world.email(muted)) == []


class TestMail:
    async def test_quiet_hours_hold_mail_until_they_end_but_in_app_arrives(
        self,
        world: World,
        client: httpx.AsyncClient,
        handler: EventHandler,
        mailer: RecordingMailer,
        runtime: ServiceRuntime,
        admin_db: asyncpg.Connection,
    ) -> None:
        org = await world.org()
        admin = await world.user(Role.ADMIN, org)
        now = datetime.now(UTC)
        start, end = (now - timedelta(hours=1)), (now + timedelta(hours=1))
        await client.put(
            "/api/notifications/preferences",
            headers=await world.headers(admin),
            json={
                "quietHours": {
                    "timezone": "UTC",
                    "start": start.strftime("%H:%M"),
                    "end": end.strftime("%H:%M"),
                }
            },
        )
        await handler(envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org))
        assert len(await inbox(client, await world.headers(admin))) == 1
        await send_due_mails(runtime.uow, mailer=mailer)
        assert mailer.to(world.email(admin)) == []
        held = await admin_db.fetchval(
            "SELECT send_after FROM notification.notification_mails WHERE user_id = $1", admin
        )
        assert held > now
        await send_due_mails(runtime.uow, mailer=mailer, now=held + timedelta(seconds=1))
        assert len(mailer.to(world.email(admin))) == 1

    async def test_a_digest_is_one_mail_per_period_even_with_two_workers(
        self,
        world: World,
        client: httpx.AsyncClient,
        handler: EventHandler,
        mailer: RecordingMailer,
        runtime: ServiceRuntime,
    ) -> None:
        org = await world.org()
        admin = await world.user(Role.ADMIN, org)
        await client.put(
            "/api/notifications/preferences",
            headers=await world.headers(admin),
            json={"digest": "hourly"},
        )
        for i in range(3):
            await handler(
                envelope(alert("critical", title=f"a{i}"), aggregate_id=uuid.uuid4(), org_id=org)
            )
        await send_due_mails(runtime.uow, mailer=mailer)
        assert mailer.to(world.email(admin)) == []  # no single mails
        later = datetime.now(UTC) + timedelta(hours=1)
        await asyncio.gather(
            send_digests(runtime.uow, mailer=mailer, now=later),
            send_digests(runtime.uow, mailer=mailer, now=later),
        )
        [digest] = mailer.to(world.email(admin))
        assert "3 new notification(s)" in digest.body
        await send_digests(runtime.uow, mailer=mailer, now=later)
        assert len(mailer.to(world.email(admin))) == 1

    async def test_a_claim_takes_each_recipients_whole_flood_and_leaves_the_rest(
        self,
        world: World,
        handler: EventHandler,
        runtime: ServiceRuntime,
        admin_db: asyncpg.Connection,
    ) -> None:
        flooded_org, later_org = await world.org(), await world.org()
        flooded = await world.user(Role.ADMIN, flooded_org)
        later = await world.user(Role.ADMIN, later_org)
        for org in (flooded_org, later_org, flooded_org, flooded_org, flooded_org):
            event = envelope(alert("critical"), aggregate_id=uuid.uuid4(), org_id=org)
            await handler(event)
        # Due long ago, in the order queued: the oldest due mails of all, the flooded
        # user's first, then the other user's.
        await admin_db.execute(
            "UPDATE notification.notification_mails m SET send_after = "
            "'2000-01-01'::timestamptz + (SELECT count(*) FROM notification.notification_mails o "
            "  WHERE o.user_id = ANY($1::uuid[]) AND o.created_at < m.created_at) "
            "  * interval '1 second' "
            "WHERE m.user_id = ANY($1::uuid[])",
            [flooded, later],
        )
        async with runtime.uow(OrgScope.everything()) as uow:
            # The oldest one only: its recipient's three later mails come with it, the
            # other user's (older than those three) stay.
            claimed = await MailQueue(uow).claim_due(now=datetime.now(UTC), limit=1, cap=100)
            assert [m.user_id for m in claimed] == [flooded] * 4
            async with runtime.uow(OrgScope.everything()) as other:
                # Another worker meanwhile: the claimed rows are skipped, the rest is its.
                rest = await MailQueue(other).claim_due(now=datetime.now(UTC), limit=1, cap=100)
                assert [m.user_id for m in rest] == [later]
            capped = await MailQueue(uow).claim_due(now=datetime.now(UTC), limit=1, cap=2)
            assert len(capped) == 2

    async def test_a_burst_for_one_user_is_one_mail_and_a_few_stay_single(
        self,
        world: World,
        handler: EventHandler,
        mailer: RecordingMailer,
        runtime: ServiceRuntime,
        admin_db: asyncpg.Connection,
    ) -> None:
        flooded_org, calm_org = await world.org(), await world.org()
        flooded = await world.user(Role.ADMIN, flooded_org)
        calm = await world.user(Role.ADMIN, calm_org)
        bursts = [f"b{i}" for i in range(BURST + 2)]
        for org, titles in ((flooded_org, bursts), (calm_org, ["c0", "c1"][: BURST - 1])):
            for title in titles:
                event = envelope(
                    alert("critical", title=title), aggregate_id=uuid.uuid4(), org_id=org
                )
                await handler(event)
        await send_due_mails(runtime.uow, mailer=mailer)

        [burst] = mailer.to(world.email(flooded))
        assert burst.subject == f"MSS Platform: {len(bursts)} new notifications"
        assert all(f"- New critical alert: {title}" in burst.body for title in bursts)
        singles = mailer.to(world.email(calm))
        assert len(singles) == BURST - 1, "under the burst size each alert is its own mail"
        assert {m.subject for m in singles} == {"New critical alert: c0", "New critical alert: c1"}
        rows = await admin_db.fetch(
            "SELECT user_id, status FROM notification.notification_mails "
            "WHERE user_id = ANY($1::uuid[])",
            [flooded, calm],
        )
        assert sorted((r["user_id"] == flooded, r["status"]) for r in rows) == sorted(
            [(True, "digested")] * len(bursts) + [(False, "sent")] * (BURST - 1)
        )
        await send_due_mails(runtime.uow, mailer=mailer)
        ours = mailer.to(world.email(flooded)) + mailer.to(world.email(calm))
        assert len(ours) == 1 + BURST - 1, "nothing mailed twice"
