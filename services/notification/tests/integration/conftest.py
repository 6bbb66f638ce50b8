"""The notification app and runtime, a directory of users seeded through the consumer, a
mailer that records, and events built the way their owners publish them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_contracts.events import (
    AlertCreated,
    EventContext,
    EventData,
    EventEnvelope,
    OrganizationCreated,
    UserCreated,
    new_event,
)
from mss_contracts.permissions import OrganizationType, Role
from mss_notification.adapters.live import LivePublisher
from mss_notification.consumers.on_event import EventHandler
from mss_notification.domain.delivery import SendOutcome
from mss_notification.domain.mail import Mail
from mss_notification.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, running

Headers = dict[str, str]
PROVIDER_ROLES = {Role.SUPER_ADMIN, Role.ACCOUNT_MANAGER, Role.SECURITY_ANALYST, Role.TECHNICIAN}


@dataclass
class RecordingMailer:
    """Stands in for SMTP: what would have been sent, in order."""

    sent: list[Mail] = field(default_factory=list)

    async def send(self, mail: Mail, /) -> SendOutcome:
        self.sent.append(mail)
        return SendOutcome(attempts=1)

    async def send_many(self, mails: Sequence[Mail], /) -> list[SendOutcome]:
        return [await self.send(mail) for mail in mails]

    def to(self, recipient: str) -> list[Mail]:
        return [m for m in self.sent if m.recipient == recipient]


@pytest.fixture
async def runtime(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[ServiceRuntime]:
    rt = build_runtime(key_loader)
    yield rt
    await rt.close()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def handler(runtime: ServiceRuntime, mailer: RecordingMailer) -> EventHandler:
    """The worker's event handler as worker.py wires it (mail recorded, push through Redis)."""
    return EventHandler(
        uow=runtime.uow,
        mailer=mailer,
        public_url="http://127.0.0.1:8080",
        push=LivePublisher(runtime.redis, namespace=runtime.settings.bus_namespace),
    )


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[httpx.AsyncClient]:
    """The API without its relay: its events stay in notification.outbox for assertions."""
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    async with running(app) as c:
        yield c


def envelope(
    data: EventData, *, aggregate_id: uuid.UUID, org_id: uuid.UUID | None, version: int = 1
) -> EventEnvelope:
    return new_event(
        data,
        aggregate_id=aggregate_id,
        organization_id=org_id,
        version=version,
        context=EventContext(),
    )


@dataclass
class World:
    """Organizations and users known to the service (seeded through its own consumer)."""

    handler: EventHandler
    mint: TokenFactory
    provider: uuid.UUID = field(default_factory=uuid.uuid4)
    orgs: dict[uuid.UUID, OrganizationType] = field(default_factory=dict)
    users: dict[uuid.UUID, tuple[uuid.UUID, Role, str]] = field(default_factory=dict)

    async def org(
        self,
        *,
        type: OrganizationType = OrganizationType.CUSTOMER,
        settings: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        org_id = uuid.uuid4()
        await self.handler(
            envelope(
                OrganizationCreated(
                    name=f"org {org_id.hex[:6]}",
                    type=type,
                    status="active",
                    settings=settings or {},
                ),
                aggregate_id=org_id,
                org_id=org_id,
            )
        )
        self.orgs[org_id] = type
        return org_id

    async def user(self, role: Role, org_id: uuid.UUID, *, status: str = "active") -> uuid.UUID:
        user_id, created = self.joining(role, org_id, status=status)
        await self.handler(created)
        return user_id

    def joining(
        self, role: Role, org_id: uuid.UUID, *, status: str = "active"
    ) -> tuple[uuid.UUID, EventEnvelope]:
        """A new user and their user.created event, not yet applied (for a test to hand
        the service itself)."""
        user_id = uuid.uuid4()
        email = f"{role.value}-{user_id.hex[:8]}@example.com"
        self.users[user_id] = (org_id, role, email)
        created = envelope(
            UserCreated(email=email, first_name="Ada", last_name="L", role=role, status=status),
            aggregate_id=user_id,
            org_id=org_id,
        )
        return user_id, created

    def email(self, user_id: uuid.UUID) -> str:
        return self.users[user_id][2]

    async def headers(self, user_id: uuid.UUID) -> Headers:
        org_id, role, _ = self.users[user_id]
        org_type = (
            OrganizationType.MSS_PROVIDER if role in PROVIDER_ROLES else OrganizationType.CUSTOMER
        )
        token = await self.mint(role=role, user_id=user_id, org_id=org_id, org_type=org_type)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def world(handler: EventHandler, mint_token: TokenFactory) -> World:
    w = World(handler=handler, mint=mint_token)
    w.provider = await w.org(type=OrganizationType.MSS_PROVIDER)
    return w


def alert(
    severity: str = "critical", *, title: str = "Ransomware on srv-01", **extra: Any
) -> AlertCreated:
    now = "2030-01-01T00:00:00Z"
    return AlertCreated.model_validate(
        {
            "title": title,
            "severity": severity,
            "status": "open",
            "category": "malware",
            "source": "edr",
            "fingerprint": uuid.uuid4().hex,
            "firstSeenAt": now,
            "lastSeenAt": now,
            **extra,
        }
    )
