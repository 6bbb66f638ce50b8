"""The reads a run of events needs (organizations, role holders, preferences, webhooks),
each asked once for the whole run, set-wise, then answered from memory.

An alert flood's events each need the same few reads of different organizations; asked one
event at a time, they are most of an event's cost (round trips, not work). `warm` asks for
the run's organizations, then for the holders of every role its audiences name, then for
those users' preferences and homes, in one statement each. Afterwards `notify` and
`queue_deliveries` read through the same methods, and anything `warm` did not foresee is
read on demand (a named person, an organization the projection lacks: the projection-miss
fetch still applies).

Valid only while the projections do not change: a run ends before a user.* or
organization.* event, and a new one starts after it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from uuid import UUID

from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import Role
from mss_contracts.settings import NotificationDefaults
from mss_db import UnitOfWork
from mss_notification.adapters.directory import Directory, DirectoryOrg, DirectoryUser
from mss_notification.adapters.inbox import PreferenceStore
from mss_notification.adapters.webhook_store import Webhook, WebhookStore
from mss_notification.domain.audience import (
    NOTIFIED_TYPES,
    Audience,
    OrgRoles,
    ProviderRoles,
    who_is_told,
)
from mss_notification.domain.preferences import Preferences

DEFAULT_MIN_SEVERITY = NotificationDefaults().min_alert_severity

HoldersKey = tuple[UUID | None, frozenset[Role]]


class Lookups:
    def __init__(self, uow: UnitOfWork) -> None:
        self.directory = Directory(uow)
        self._preferences = PreferenceStore(uow)
        self._webhooks = WebhookStore(uow)
        self._orgs: dict[UUID, DirectoryOrg | None] = {}
        self._holders: dict[HoldersKey, list[DirectoryUser]] = {}
        self._chosen: dict[UUID, Preferences] = {}
        self._asked: set[UUID] = set()
        self._hooks: dict[UUID, list[Webhook]] = {}

    async def warm(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Read, set-wise, what these events' notifications and deliveries will need."""
        notified = [e for e in envelopes if e.type in NOTIFIED_TYPES]
        org_ids = {e.organization_id for e in envelopes if e.organization_id is not None}
        await self._held_orgs(org_ids)
        await self._warm_webhooks(org_ids)
        audiences = [self.audience(e, self._org_held(e.organization_id)) for e in notified]
        org_targets = [t for a in audiences for t in a.targets if isinstance(t, OrgRoles)]
        provider_targets = {
            t.roles for a in audiences for t in a.targets if isinstance(t, ProviderRoles)
        }
        await self._warm_holders(org_targets)
        for roles in provider_targets:
            await self.holders(roles)
        users = [u for held in self._holders.values() for u in held]
        await self._held_orgs({u.org_id for u in users})
        await self.preferences([u.user_id for u in users])

    @staticmethod
    def audience(envelope: EventEnvelope, org: DirectoryOrg | None) -> Audience:
        """Who is told of `envelope`, `org` being its organization (its alert threshold)."""
        min_severity = (
            org.settings.notification_defaults.min_alert_severity if org else DEFAULT_MIN_SEVERITY
        )
        return who_is_told(
            envelope.type,
            org_id=envelope.organization_id,
            data=envelope.data,
            min_alert_severity=min_severity,
        )

    def _org_held(self, org_id: UUID | None) -> DirectoryOrg | None:
        return None if org_id is None else self._orgs.get(org_id)

    async def org(self, org_id: UUID) -> DirectoryOrg | None:
        """As `Directory.org`: one the projection lacks is asked of its owner."""
        if self._orgs.get(org_id) is None:
            self._orgs[org_id] = await self.directory.org(org_id)
        return self._orgs[org_id]

    async def held_org(self, org_id: UUID) -> DirectoryOrg | None:
        """As `Directory.held_org`: the projection's record only."""
        await self._held_orgs([org_id])
        return self._orgs[org_id]

    async def user(self, user_id: UUID) -> DirectoryUser | None:
        return await self.directory.user(user_id)

    async def holders(
        self, roles: Iterable[Role], *, org_id: UUID | None = None
    ) -> list[DirectoryUser]:
        key = (org_id, frozenset(roles))
        if key not in self._holders:
            self._holders[key] = await self.directory.holders(key[1], org_id=org_id)
        return self._holders[key]

    async def preferences(self, user_ids: Collection[UUID]) -> dict[UUID, Preferences]:
        """The stored preferences of these users (absent: never chosen)."""
        wanted = set(user_ids) - self._asked
        if wanted:
            self._chosen.update(await self._preferences.of(sorted(wanted)))
            self._asked |= wanted
        return {u: self._chosen[u] for u in user_ids if u in self._chosen}

    async def webhooks(self, org_id: UUID) -> list[Webhook]:
        """The organization's active webhooks."""
        await self._warm_webhooks([org_id])
        return self._hooks[org_id]

    async def _held_orgs(self, org_ids: Iterable[UUID]) -> None:
        wanted = set(org_ids) - self._orgs.keys()
        if wanted:
            held = await self.directory.held_orgs(wanted)
            self._orgs.update({org_id: held.get(org_id) for org_id in wanted})

    async def _warm_webhooks(self, org_ids: Iterable[UUID]) -> None:
        wanted = set(org_ids) - self._hooks.keys()
        if wanted:
            self._hooks.update(await self._webhooks.active_of(wanted))

    async def _warm_holders(self, targets: Sequence[OrgRoles]) -> None:
        keys = {(t.org_id, t.roles) for t in targets} - self._holders.keys()
        if not keys:
            return
        roles = frozenset(r for _, held in keys for r in held)
        users = await self.directory.holders_in(roles, org_ids={org for org, _ in keys})
        for org_id, held in keys:
            self._holders[(org_id, held)] = [
                u for u in users if u.org_id == org_id and u.role in held
            ]
