"""An event in, its notifications out: who is told, what each wants, inbox rows and mails.

Runs in the consumer's transaction (`apply_once`): the notifications, the mails they queue
and the event's inbox entry commit together, so a redelivered event changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import NotificationDefaults
from mss_db import UnitOfWork
from mss_notification.adapters.directory import Directory, DirectoryUser
from mss_notification.adapters.inbox import (
    Inbox,
    MailQueue,
    PreferenceStore,
    QueuedMail,
    StoredNotification,
)
from mss_notification.domain.audience import (
    NOTIFIED_TYPES,
    Audience,
    OrgRoles,
    Person,
    ProviderRoles,
    who_is_told,
)
from mss_notification.domain.notice import Notice, notice_for
from mss_notification.domain.preferences import Preferences

DEFAULT_MIN_SEVERITY = NotificationDefaults().min_alert_severity


async def _resolve(
    directory: Directory, audience: Audience, org_id: UUID | None
) -> list[DirectoryUser]:
    """The active users the audience names, each once. A named person outside the event's
    organization is told only if they are provider staff (never another customer)."""
    found: dict[UUID, DirectoryUser] = {}
    for target in audience.targets:
        if isinstance(target, OrgRoles):
            users = await directory.holders(target.roles, org_id=target.org_id)
        elif isinstance(target, ProviderRoles):
            users = await directory.holders(target.roles)
        else:
            assert isinstance(target, Person)
            user = await directory.user(target.user_id)
            if user is None or not user.active:
                continue
            if user.org_id != org_id:
                home = await directory.org(user.org_id)
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
    uow: UnitOfWork, envelope: EventEnvelope, *, now: datetime, public_url: str
) -> list[StoredNotification]:
    """Store the event's notifications and queue their mails; the new in-app ones returned
    (to push live once committed)."""
    if envelope.type not in NOTIFIED_TYPES:
        return []
    directory = Directory(uow)
    org_id = envelope.organization_id
    org = await directory.org(org_id) if org_id is not None else None
    min_severity = (
        org.settings.notification_defaults.min_alert_severity if org else DEFAULT_MIN_SEVERITY
    )
    audience = who_is_told(
        envelope.type, org_id=org_id, data=envelope.data, min_alert_severity=min_severity
    )
    users = await _resolve(directory, audience, org_id)
    if not users:
        return []
    notice = notice_for(envelope.type, aggregate_id=envelope.aggregate_id, data=envelope.data)
    chosen = await PreferenceStore(uow).of([u.user_id for u in users])
    defaults: dict[UUID, Preferences] = {}
    in_app: list[tuple[UUID, UUID]] = []
    mails: list[QueuedMail] = []
    for user in users:
        preferences = chosen.get(user.user_id)
        if preferences is None:
            if user.org_id not in defaults:
                home = await directory.held_org(user.org_id)
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
