"""Mail-worthy events through the real bus, inbox and database, to a real SMTP sink."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import mailbox
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import quote

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection
from prometheus_client import REGISTRY

from mss_auth.tokens import KeyLoader
from mss_bus import BatchConsumer, EventConsumer
from mss_contracts.events import (
    EventContext,
    EventEnvelope,
    PasswordResetRequested,
    UserInvited,
    new_event,
)
from mss_contracts.permissions import Role
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import AppDb, eventually, running

# isort: split
from mss_notification.adapters.smtp import SmtpMailer
from mss_notification.config import SERVICE, SERVICE_DIR, NotificationSettings
from mss_notification.main import build_runtime, create_app
from mss_notification.worker import MAIL_QUEUE
from mss_notification.worker import consumers as worker_consumers

from .conftest import World, alert, envelope

# SMTP retries with back-off: a longer bound than the default.
MAIL_DEADLINE_S = 20.0

pytestmark = pytest.mark.integration

T = TypeVar("T")
PUBLIC_URL = "http://127.0.0.1:8080"
ROOT = SERVICE_DIR.parents[1]


def free_port() -> int:
    """A loopback port nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _load_mail_sink() -> ModuleType:
    """scripts/lib/mail_sink.py, the sink scripts/up runs (scripts/ is not a package)."""
    name = "mss_scripts_mail_sink"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "lib" / "mail_sink.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class MailSink:
    host: str
    port: int
    directory: Path

    def messages(self) -> list[mailbox.MaildirMessage]:
        return list(mailbox.Maildir(self.directory, create=False).values())

    def to(self, recipient: str) -> list[mailbox.MaildirMessage]:
        return [m for m in self.messages() if m["To"] == recipient]


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[MailSink]:
    """scripts/lib/mail_sink.py running in-process on a free port, writing a fresh Maildir."""
    sink = MailSink(host="127.0.0.1", port=free_port(), directory=tmp_path / "mail")
    controller = _load_mail_sink().start(sink.directory, host=sink.host, port=sink.port)
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Worker:
    """The notification worker's two consumers as worker.py wires them."""

    runtime: ServiceRuntime
    events: BatchConsumer
    mail: EventConsumer

    async def publish(self, envelope: EventEnvelope) -> None:
        await self.runtime.bus.publish(
            routing_key=envelope.type,
            body=envelope.model_dump_json(by_alias=True).encode(),
            message_id=str(envelope.id),
        )


def consumed_ok() -> float:
    """Deliveries the service's consumers acknowledged as applied (or seen before)."""
    value = REGISTRY.get_sample_value(
        "mss_events_consumed_total", {"service": SERVICE, "outcome": "ok"}
    )
    return value or 0.0


WorkerFactory = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[WorkerFactory]:
    """`await start_worker(smtp_port=...)`: the worker's consumers as worker.py wires them,
    SMTP at that port (`consume=False`: the queues declared, nothing consumed yet)."""
    started: list[Worker] = []

    async def start(*, smtp_port: int) -> Worker:
        settings = NotificationSettings(
            smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_backoff_s=0.01, smtp_timeout_s=5
        )
        runtime = build_runtime(key_loader)
        events, mail = worker_consumers(runtime, settings, mailer=SmtpMailer(settings))
        worker = Worker(runtime=runtime, events=events, mail=mail)
        started.append(worker)
        await mail.start()
        await events.start()
        return worker

    yield start
    for worker in started:
        await worker.events.close()
        await worker.runtime.close()


def _invited(token: str, *, org_id: uuid.UUID | None = None) -> EventEnvelope:
    return new_event(
        UserInvited(
            email=f"invitee-{uuid.uuid4().hex[:8]}@example.com",
            first_name="Grace",
            last_name="Hopper",
            role=Role.BASIC_USER,
            invitation_token=token,
            expires_at=datetime.now(UTC) + timedelta(days=7),
        ),
        aggregate_id=uuid.uuid4(),
        organization_id=org_id or uuid.uuid4(),
        version=1,
        context=EventContext(),
    )


def _token() -> str:
    return f"tok_{uuid.uuid4().hex}/+=&"  # characters that must be URL-encoded in the link


async def _delivery(admin_db: asyncpg.Connection, event_id: uuid.UUID) -> dict[str, Any]:
    row = await admin_db.fetchrow(
        "SELECT *, row_to_json(d)::text AS as_json FROM notification.mail_deliveries d "
        "WHERE event_id = $1",
        event_id,
    )
    assert row is not None, "no delivery row yet"
    return dict(row)


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Ours at DEBUG, the rest at INFO (aiormq's DEBUG dumps raw frames, event bodies too)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="mss")


def _no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for record in caplog.records:
        text = record.getMessage() + str(record.exc_info or "")
        for secret in secrets:
            assert secret not in text, f"secret in log: {record.name}"


async def test_invitation_is_mailed_with_its_link_and_logged_as_sent(
    start_worker: WorkerFactory,
    mail_sink: MailSink,
    admin_db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _capture_logs(caplog)
    token = _token()
    event = _invited(token)
    worker = await start_worker(smtp_port=mail_sink.port)
    await worker.publish(event)
    recipient = event.data["email"]

    async def delivered() -> list[Message]:
        messages = mail_sink.to(recipient)
        assert len(messages) == 1
        return list(messages)

    [message] = await eventually(delivered, timeout_s=MAIL_DEADLINE_S)
    link = f"{PUBLIC_URL}/accept-invitation?token={quote(token, safe='')}"
    body = _body(message)
    assert link in body
    assert "Hello Grace Hopper," in body
    assert message["Subject"] == "You are invited to the MSS Platform"
    assert message.get_content_type() == "text/plain"
    # Stable per event: a resend after a crash is recognisable as the same mail.
    assert message["Message-ID"] == f"<{event.id}@mss.local>"

    async def recorded() -> dict[str, Any]:
        return await _delivery(admin_db, event.id)

    row = await eventually(recorded, timeout_s=MAIL_DEADLINE_S)
    assert row["status"] == "sent"
    assert row["attempts"] == 1
    assert row["template"] == "invitation"
    assert row["recipient"] == recipient
    assert row["org_id"] == event.organization_id
    assert row["last_error"] is None
    assert row["sent_at"] is not None
    assert token not in row["as_json"]
    assert quote(token, safe="") not in row["as_json"]
    _no_secret_logged(caplog, token, quote(token, safe=""), body)


async def test_the_same_event_redelivered_sends_no_second_mail(
    start_worker: WorkerFactory, mail_sink: MailSink, admin_db: asyncpg.Connection
) -> None:
    event = _invited(_token())
    worker = await start_worker(smtp_port=mail_sink.port)
    before = consumed_ok()
    await worker.publish(event)
    await worker.publish(event)  # a redelivery: same id, same body

    async def both_handled() -> None:
        assert consumed_ok() - before == 2

    await eventually(both_handled, timeout_s=MAIL_DEADLINE_S)
    assert len(mail_sink.to(event.data["email"])) == 1
    count = await admin_db.fetchval(
        "SELECT count(*) FROM notification.mail_deliveries WHERE event_id = $1", event.id
    )
    assert count == 1


async def test_smtp_down_records_failed_after_the_retries_and_then_acknowledges(
    start_worker: WorkerFactory,
    admin_db: asyncpg.Connection,
    amqp: AbstractRobustConnection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _capture_logs(caplog)
    token = _token()
    event = _invited(token)
    worker = await start_worker(smtp_port=free_port())  # nothing listens there
    await worker.publish(event)

    async def recorded() -> dict[str, Any]:
        return await _delivery(admin_db, event.id)

    row = await eventually(recorded, timeout_s=MAIL_DEADLINE_S)
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    assert row["sent_at"] is None
    assert row["last_error"]
    assert token not in row["as_json"]
    inbox = await admin_db.fetchval(
        "SELECT count(*) FROM notification.inbox WHERE event_id = $1", event.id
    )
    assert inbox == 1, "the event is recorded in the same transaction as its outcome"

    # Acknowledged once recorded: nothing left on the queue, nothing dead-lettered.
    channel = await amqp.channel()
    topology = worker.runtime.bus.topology

    async def acknowledged() -> None:
        queue = await channel.declare_queue(topology.queue(SERVICE, MAIL_QUEUE), passive=True)
        assert queue.declaration_result.message_count == 0

    await eventually(acknowledged, timeout_s=MAIL_DEADLINE_S)
    dlq = await channel.declare_queue(topology.dead_letter_queue(SERVICE, MAIL_QUEUE), passive=True)
    assert await dlq.get(no_ack=True, fail=False) is None
    _no_secret_logged(caplog, token, quote(token, safe=""))


async def test_password_reset_mail_carries_the_reset_link(
    start_worker: WorkerFactory, mail_sink: MailSink
) -> None:
    token = _token()
    event = new_event(
        PasswordResetRequested(
            email=f"reset-{uuid.uuid4().hex[:8]}@example.com",
            reset_token=token,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        ),
        aggregate_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        version=1,
        context=EventContext(),
    )
    worker = await start_worker(smtp_port=mail_sink.port)
    await worker.publish(event)

    async def delivered() -> Message:
        messages = mail_sink.to(event.data["email"])
        assert len(messages) == 1
        return messages[0]

    message = await eventually(delivered, timeout_s=MAIL_DEADLINE_S)
    assert f"{PUBLIC_URL}/reset-password?token={quote(token, safe='')}" in _body(message)


FLOOD = 3000


async def test_an_invitation_queued_behind_thousands_of_alerts_is_mailed_within_seconds(
    start_worker: WorkerFactory,
    mail_sink: MailSink,
    amqp: AbstractRobustConnection,
    world: World,
    runtime: ServiceRuntime,
    key_loader: KeyLoader,
    admin_db: asyncpg.Connection,
) -> None:
    org = await world.org(settings={"notificationDefaults": {"email": False}})
    await world.user(Role.ADMIN, org)  # each alert tells someone: real work per event
    # The queues declared by a first worker that then goes away: the backlog waits.
    settings = NotificationSettings(smtp_port=mail_sink.port)
    declaring = build_runtime(key_loader)
    events, mail = worker_consumers(declaring, settings, mailer=SmtpMailer(settings))
    for consumer in (events, mail):
        await consumer.start()
    await events.close()
    await declaring.close()
    alerts = [
        envelope(alert("critical", title=f"flood {i}"), aggregate_id=uuid.uuid4(), org_id=org)
        for i in range(FLOOD)
    ]
    for start in range(0, FLOOD, 250):
        await asyncio.gather(*(_publish(runtime, event) for event in alerts[start : start + 250]))
    invitation = _invited(_token())
    await _publish(runtime, invitation)

    worker = await start_worker(smtp_port=mail_sink.port)
    channel = await amqp.channel()
    backlog = await channel.declare_queue(worker.runtime.bus.topology.queue(SERVICE), passive=True)
    try:

        async def mailed() -> None:
            assert len(mail_sink.to(invitation.data["email"])) == 1

        # Bounded: an invitation behind 3,000 alerts on one queue would take far longer.
        await eventually(mailed, timeout_s=3.0)
        still = await channel.declare_queue(backlog.name, passive=True)
        assert still.declaration_result.message_count > 0, "the alerts were still being worked"
    finally:
        # Leave no backlog (nor the mails it queued for provider staff) to later tests.
        await worker.runtime.close()
        await backlog.purge()
        await admin_db.execute(
            "DELETE FROM notification.notification_mails WHERE event_id = ANY($1::uuid[])",
            [event.id for event in alerts],
        )


async def _publish(runtime: ServiceRuntime, event: EventEnvelope) -> None:
    await runtime.bus.publish(
        routing_key=event.type,
        body=event.model_dump_json(by_alias=True).encode(),
        message_id=str(event.id),
    )


async def test_delivery_rows_of_another_tenant_are_invisible_to_the_app_role(
    admin_db: asyncpg.Connection, app_db: AppDb
) -> None:
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    for org in (org_a, org_b):
        await admin_db.execute(
            "INSERT INTO notification.mail_deliveries "
            "(id, event_id, org_id, recipient, template, status, attempts) "
            "VALUES ($1, $2, $3, 'r@example.com', 'invitation', 'sent', 1)",
            uuid.uuid4(),
            uuid.uuid4(),
            org,
        )
    notification_app_db = await app_db("notification")
    async with notification_app_db.transaction():
        await notification_app_db.execute(
            "SELECT set_config('app.org_ids', $1, true), set_config('app.all_orgs', 'off', true)",
            str(org_a),
        )
        orgs = {
            row["org_id"]
            for row in await notification_app_db.fetch("SELECT * FROM notification.mail_deliveries")
        }
    assert orgs == {org_a}
    unscoped = await notification_app_db.fetch("SELECT * FROM notification.mail_deliveries")
    assert unscoped == [], "no scope set: no rows (fail closed)"


async def test_api_is_ready_with_migrations_at_head(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> None:
    app = create_app(runtime_factory=lambda: build_runtime(key_loader))
    async with running(app) as client:

        async def ready() -> None:
            response = await client.get("/ready")
            assert response.status_code == 200, response.text

        await eventually(ready, timeout_s=MAIL_DEADLINE_S)
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
