"""An event in, its notifications out: who is told, what each wants, inbox rows and mails.

Runs in the consumer's transaction (`apply_batch_once` or `apply_once`): the notifications,
the mails they queue and the event's inbox entry commit together, so a redelivered event
changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import NotificationDefaults
from mss_db import UnitOfWork
from mss_notification.adapters.directory import DirectoryUser
from mss_notification.adapters.inbox import Inbox, MailQueue, QueuedMail, StoredNotification
from mss_notification.application.lookups import Lookups
from mss_notification.domain.audience import (
    NOTIFIED_TYPES,
    Audience,
    OrgRoles,
    Person,
    ProviderRoles,
)
from mss_notification.domain.notice import Notice, notice_for
from mss_notification.domain.preferences import Preferences


async def _resolve(
    lookups: Lookups, audience: Audience, org_id: UUID | None
) -> list[DirectoryUser]:
    """The active users the audience names, each once. A named person outside the event's
    organization is told only if they are provider staff (never another customer)."""
    found: dict[UUID, DirectoryUser] = {}
    for target in audience.targets:
        if isinstance(target, OrgRoles):
            users = await lookups.holders(target.roles, org_id=target.org_id)
        elif isinstance(target, ProviderRoles):
            users = await lookups.holders(target.roles)
        else:
            assert isinstance(target, Person)
            user = await lookups.user(target.user_id)
            if user is None or not user.active:
                continue
            if user.org_id != org_id:
                home = await lookups.org(user.org_id)
                if home is None or home.type != OrganizationType.MSS_PROVIDER.value:
                    continue
            users = [user]
        for user in users:
            if user.user_id not in audience.excluded:
                found.setdefault(user.user_id, user)
    return list(found.values())


def _mail_body(notice: Notice, *, public_url: str) -> str:
    link = f"{public_url.rstrip('/')}/notifications"
    return f"{notice.body}\n\nOpen the MSS Platform to see it: {link}\n"


async def notify(
    uow: UnitOfWork,
    envelope: EventEnvelope,
    *,
    lookups: Lookups,
    now: datetime,
    public_url: str,
) -> list[StoredNotification]:
    """Store the event's notifications and queue their mails; the new in-app ones returned
    (to push live once committed). Reads go through `lookups` (warmed for a batch)."""
    if envelope.type not in NOTIFIED_TYPES:
        return []
    org_id = envelope.organization_id
    org = await lookups.org(org_id) if org_id is not None else None
    users = await _resolve(lookups, Lookups.audience(envelope, org), org_id)
    if not users:
        return []
    notice = notice_for(envelope.type, aggregate_id=envelope.aggregate_id, data=envelope.data)
    chosen = await lookups.preferences([u.user_id for u in users])
    defaults: dict[UUID, Preferences] = {}
    in_app: list[tuple[UUID, UUID]] = []
    mails: list[QueuedMail] = []
    for user in users:
        preferences = chosen.get(user.user_id)
        if preferences is None:
            if user.org_id not in defaults:
                home = await lookups.held_org(user.org_id)
                defaults[user.org_id] = Preferences.defaults(
                    home.settings.notification_defaults if home else NotificationDefaults()
                )
            preferences = defaults[user.org_id]
        if not preferences.wants(envelope.type, notice.severity):
            continue
        if preferences.in_app:
            in_app.append((user.user_id, user.org_id))
        if preferences.email:
            mails.append(
                QueuedMail(
                    org_id=user.org_id,
                    user_id=user.user_id,
                    event_id=envelope.id,
                    recipient=user.email,
                    subject=notice.title,
                    body=_mail_body(notice, public_url=public_url),
                    digest=preferences.digest,
                    send_after=preferences.mail_after(now),
                )
            )
    await MailQueue(uow).queue(mails)
    return await Inbox(uow).add_many(
        event_id=envelope.id, subject_org_id=org_id, notice=notice, recipients=in_app
    )
