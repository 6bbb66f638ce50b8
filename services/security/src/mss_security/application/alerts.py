"""Alert use cases: each writes state and its events in the route's unit of work, then commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic_core import to_json

from mss_contracts.events import (
    AlertAcknowledged,
    AlertAssigned,
    AlertCommented,
    AlertCreated,
    AlertDeduplicated,
    AlertEscalated,
    AlertReopened,
    AlertResolved,
    AlertUpdated,
    EventContext,
    EventData,
    EventEnvelope,
    new_event,
)
from mss_contracts.interventions import InterventionType, Priority
from mss_db import UnitOfWork
from mss_security.adapters.directories import OrgDirectory, UserDirectory
from mss_security.adapters.quota import IngestQuota, QuotaRefused
from mss_security.adapters.repository import AlertRepository, Upserted
from mss_security.application.matching import enrich_at_ingest
from mss_security.domain.alerts import (
    Alert,
    CommentVisibility,
    Resolution,
)
from mss_security.domain.comments import Comment
from mss_security.domain.errors import (
    AlertNotFound,
    DuplicateUnresolvedAlert,
    InvalidAlertTransition,
    InvalidAssignee,
    InvalidIngest,
    QuotaExceeded,
)
from mss_security.domain.indicators import NormalizedCache, match_keys
from mss_security.domain.ingest import IncomingAlert, StoredAlert, group_by_dedup_key, new_ids
from mss_security.domain.listing import TOTAL_CAP, AlertFilter, Cursor, Sort


def _snapshot(alert: Alert | StoredAlert) -> dict[str, Any]:
    """`AlertSnapshot`'s fields of an alert, by their model names."""
    return {
        "title": alert.title,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "category": alert.category.value,
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "assigned_to": alert.assigned_to,
        "occurrence_count": alert.occurrence_count,
        "first_seen_at": alert.first_seen_at,
        "last_seen_at": alert.last_seen_at,
        "resolution": alert.resolution.value if alert.resolution else None,
        "intervention_id": alert.intervention_id,
    }


def _event(alert: Alert, data: EventData, ctx: EventContext) -> EventEnvelope:
    return new_event(
        data,
        aggregate_id=alert.id,
        organization_id=alert.org_id,
        version=alert.version,
        context=ctx,
    )


# --- ingest -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestItemResult:
    index: int
    id: UUID
    result: str  # created | deduplicated


@dataclass(slots=True)
class IngestOutcome:
    items: list[IngestItemResult] = field(default_factory=list)
    # By input index; only when the whole alerts were asked for (`ingest_alerts(whole=True)`).
    alerts: dict[int, Alert] = field(default_factory=dict)

    @property
    def created(self) -> int:
        return sum(1 for item in self.items if item.result == "created")

    @property
    def deduplicated(self) -> int:
        return len(self.items) - self.created


async def ingest_alerts(
    items: list[IncomingAlert],
    *,
    uow: UnitOfWork,
    quota: IngestQuota,
    ctx: EventContext,
    whole: bool = False,
) -> IngestOutcome:
    """Store a request's alerts in one statement, duplicates folded, one outbox write.

    Every organization named must accept alerts (422 naming the item otherwise), and the
    request's alerts — duplicates included — must fit each one's quota (429); either way
    nothing is stored. `whole`: the outcome carries each item's whole alert (the single
    route answers with it; a batch answers with ids only).
    """
    orgs = OrgDirectory(uow)
    wanted: dict[UUID, tuple[int, int]] = {}
    problems: dict[str, str] = {}
    for index, item in enumerate(items):
        if item.org_id in wanted:
            amount, limit = wanted[item.org_id]
            wanted[item.org_id] = (amount + 1, limit)
            continue
        org = await orgs.receiving(item.org_id)
        if org is None or not org.accepts_alerts:
            problems[f"alerts[{index}].organizationId"] = "not an active customer organization"
            continue
        wanted[item.org_id] = (1, org.alert_quota_per_minute)
    if problems:
        raise InvalidIngest(problems)
    try:
        await quota.take(wanted)
    except QuotaRefused as refused:
        raise QuotaExceeded(retry_after=refused.retry_after, quota=refused.quota) from refused
    try:
        return await _store(items, uow=uow, ctx=ctx, whole=whole)
    except BaseException:
        await quota.give_back(wanted)
        raise


async def _store(
    items: list[IncomingAlert], *, uow: UnitOfWork, ctx: EventContext, whole: bool
) -> IngestOutcome:
    groups = group_by_dedup_key(items)
    normalized: NormalizedCache = {}  # the batch's repeated values parsed once
    enrichments = await enrich_at_ingest(
        [
            (
                g.first.org_id,
                match_keys(g.first.observables, g.first.affected_assets, cache=normalized),
            )
            for g in groups
        ],
        uow=uow,
    )
    upserted = await AlertRepository(uow).upsert(
        groups, now=datetime.now(UTC), enrichments=enrichments, whole=whole
    )
    outcome = IngestOutcome()
    results: list[IngestItemResult | None] = [None] * len(items)
    for up in upserted:
        alert_id = up.stored.id
        for position, index in enumerate(up.group.indexes):
            created = up.created and position == 0
            results[index] = IngestItemResult(
                index=index, id=alert_id, result="created" if created else "deduplicated"
            )
            if up.alert is not None:
                outcome.alerts[index] = up.alert
    outcome.items = [result for result in results if result is not None]
    await uow.outbox.add_serialized(ingest_events(upserted, ctx))
    await uow.commit()
    return outcome


# Model names to wire names (`by_alias`), for the events ingest writes without models.
_WIRE_NAMES = {name: field.alias or name for name, field in AlertCreated.model_fields.items()}


def _snapshot_data(alert: StoredAlert) -> dict[str, Any]:
    """`_snapshot` by wire names, as the event's JSON holds them."""
    return {_WIRE_NAMES[name]: value for name, value in _snapshot(alert).items()}


def ingest_events(upserted: list[Upserted], ctx: EventContext) -> list[tuple[UUID, str, str]]:
    """An ingest request's events as outbox rows `(id, type, envelope JSON)`: one `created`
    per new alert, and one `deduplicated` per alert with the request's count (API.md).

    Thousands per batch, so no model per event: the envelopes are built as the dicts
    `new_event(...).model_dump(mode="json", by_alias=True)` gives for `AlertCreated` and
    `AlertDeduplicated`, and serialized by pydantic's own encoder (UUIDs, datetimes);
    tests/unit/test_ingest_batch.py holds them equal, and the contracts validate them.
    """
    drafts: list[tuple[str, StoredAlert, dict[str, Any]]] = []
    for up in upserted:
        alert = up.stored
        if up.created:
            data = _snapshot_data(alert)
            data["previousAlertId"] = alert.previous_alert_id
            drafts.append((AlertCreated.event_type, alert, data))
            folded = up.group.count - 1
        else:
            folded = up.group.count
        if folded:
            data = _snapshot_data(alert)
            data["occurrences"] = folded
            drafts.append((AlertDeduplicated.event_type, alert, data))
    rows = []
    for event_id, (event_type, alert, data) in zip(new_ids(len(drafts)), drafts, strict=True):
        envelope = {
            "id": event_id,
            "type": event_type,
            "aggregateId": alert.id,
            "aggregateType": _ALERT_AGGREGATE,
            "organizationId": alert.org_id,
            "data": data,
            "metadata": {
                "userId": ctx.user_id,
                "sessionId": ctx.session_id,
                "correlationId": ctx.correlation_id,
                "causationId": ctx.causation_id,
                "timestamp": datetime.now(UTC),
                "version": alert.version,
                "ipAddress": ctx.ip_address,
                "userAgent": ctx.user_agent,
            },
            "schemaVersion": 1,
        }
        rows.append((event_id, event_type, to_json(envelope).decode()))
    return rows


_ALERT_AGGREGATE = AlertCreated.aggregate_type


# --- reads --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertPage:
    alerts: list[Alert]
    next_cursor: Cursor | None
    total: int
    total_exact: bool


async def get_alert(alert_id: UUID, *, uow: UnitOfWork) -> Alert:
    alert = await AlertRepository(uow).get(alert_id)
    if alert is None:
        raise AlertNotFound()
    return alert


async def list_alerts(
    where: AlertFilter, *, sort: Sort, cursor: Cursor | None, limit: int, uow: UnitOfWork
) -> AlertPage:
    repository = AlertRepository(uow)
    alerts, next_cursor = await repository.page(where, sort=sort, cursor=cursor, limit=limit)
    total = await repository.count(where, cap=TOTAL_CAP)
    return AlertPage(
        alerts=alerts,
        next_cursor=next_cursor,
        total=min(total, TOTAL_CAP),
        total_exact=total <= TOTAL_CAP,
    )


async def list_comments(
    alert_id: UUID, *, customer_reader: bool, uow: UnitOfWork
) -> tuple[Alert, list[Comment]]:
    repository = AlertRepository(uow)
    alert = await get_alert(alert_id, uow=uow)
    return alert, await repository.comments(alert, customer_only=customer_reader)


# --- workflow -----------------------------------------------------------------------------


async def _load_for_change(uow: UnitOfWork, alert_id: UUID, expected: int | None) -> Alert:
    alert = await AlertRepository(uow).get(alert_id, for_update=True)
    if alert is None:
        raise AlertNotFound()
    alert.check_version(expected)
    return alert


async def _commit_change(
    uow: UnitOfWork, alert: Alert, data: EventData, ctx: EventContext
) -> Alert:
    await AlertRepository(uow).save(alert)
    await uow.outbox.add(_event(alert, data, ctx))
    await uow.commit()
    return alert


async def update_alert(
    alert_id: UUID,
    changes: dict[str, Any],
    *,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Alert:
    alert = (await _load_for_change(uow, alert_id, expected_version)).update(
        changes, datetime.now(UTC)
    )
    if not alert.changed:
        return alert
    return await _commit_change(
        uow, alert, AlertUpdated(**_snapshot(alert), changed=list(alert.changed)), ctx
    )


async def acknowledge_alert(
    alert_id: UUID, *, by: UUID, expected_version: int | None, uow: UnitOfWork, ctx: EventContext
) -> Alert:
    alert = (await _load_for_change(uow, alert_id, expected_version)).acknowledge(
        by=by, now=datetime.now(UTC)
    )
    return await _commit_change(uow, alert, AlertAcknowledged(**_snapshot(alert)), ctx)


async def check_assignee(user_id: UUID | None, *, uow: UnitOfWork) -> None:
    """A provider user holding `alerts:update` (asked of identity on a miss), or nobody."""
    if user_id is None:
        return
    user = await UserDirectory(uow).assignable(user_id)
    if user is None or not user.may_work_alerts:
        raise InvalidAssignee()


async def assign_alert(
    alert_id: UUID,
    user_id: UUID | None,
    *,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Alert:
    before = await _load_for_change(uow, alert_id, expected_version)
    alert = before.assign(user_id, now=datetime.now(UTC))
    if not alert.changed:
        return alert
    await check_assignee(user_id, uow=uow)
    return await _commit_change(
        uow, alert, AlertAssigned(**_snapshot(alert), previous_assignee=before.assigned_to), ctx
    )


async def resolve_alert(
    alert_id: UUID,
    resolution: Resolution,
    note: str | None,
    *,
    by: UUID,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Alert:
    alert = (await _load_for_change(uow, alert_id, expected_version)).resolve(
        resolution, note, by=by, now=datetime.now(UTC)
    )
    return await _commit_change(uow, alert, AlertResolved(**_snapshot(alert), note=note), ctx)


async def reopen_alert(
    alert_id: UUID,
    reason: str,
    *,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Alert:
    repository = AlertRepository(uow)
    alert = (await _load_for_change(uow, alert_id, expected_version)).reopen(now=datetime.now(UTC))
    if await repository.unresolved_twin(alert):
        # The dedup key is taken by a newer unresolved alert (a recurrence): one at a time.
        raise DuplicateUnresolvedAlert()
    return await _commit_change(uow, alert, AlertReopened(**_snapshot(alert), reason=reason), ctx)


@dataclass(frozen=True, slots=True)
class Escalate:
    priority: Priority
    type: InterventionType
    title: str | None
    description: str | None
    requested_by: UUID


async def escalate_alert(
    alert_id: UUID,
    cmd: Escalate,
    *,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Alert:
    """Link a new intervention id; the intervention service creates it from the event."""
    alert = (await _load_for_change(uow, alert_id, expected_version)).escalate(
        uuid4(), now=datetime.now(UTC)
    )
    assert alert.intervention_id is not None
    data = AlertEscalated(
        **_snapshot(alert),
        escalated_intervention_id=alert.intervention_id,
        priority=cmd.priority,
        intervention_type=cmd.type,
        intervention_title=cmd.title or alert.title,
        intervention_description=cmd.description or alert.description or alert.title,
        requested_by=cmd.requested_by,
    )
    return await _commit_change(uow, alert, data, ctx)


async def comment_alert(
    alert_id: UUID,
    body: str,
    visibility: CommentVisibility,
    *,
    author_id: UUID,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Comment:
    """A comment changes no state of the alert: its version stays, the event tells."""
    alert = await get_alert(alert_id, uow=uow)
    comment = Comment(
        id=uuid4(),
        org_id=alert.org_id,
        alert_id=alert.id,
        author_id=author_id,
        body=body,
        visibility=visibility,
        created_at=datetime.now(UTC),
    )
    await AlertRepository(uow).add_comment(comment)
    data = AlertCommented(
        **_snapshot(alert), comment_id=comment.id, author_id=author_id, visibility=visibility.value
    )
    await uow.outbox.add(_event(alert, data, ctx))
    await uow.commit()
    return comment


# --- bulk ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkAction:
    ids: list[UUID]
    action: str  # acknowledge | assign | resolve
    by: UUID
    user_id: UUID | None = None
    resolution: Resolution | None = None
    note: str | None = None


@dataclass(slots=True)
class BulkOutcome:
    updated: list[UUID] = field(default_factory=list)
    skipped: list[tuple[UUID, str]] = field(default_factory=list)


async def bulk_action(cmd: BulkAction, *, uow: UnitOfWork, ctx: EventContext) -> BulkOutcome:
    """Apply one action to many alerts in one transaction; those it cannot apply are skipped
    with the reason (unknown or another tenant's: "not found"; a refused step: its status)."""
    if cmd.action == "assign":
        await check_assignee(cmd.user_id, uow=uow)
    now = datetime.now(UTC)
    unique = sorted(set(cmd.ids))
    found = {alert.id: alert for alert in await AlertRepository(uow).get_many(unique)}
    steps: dict[str, Callable[[Alert], tuple[Alert, EventData]]] = {
        "acknowledge": lambda a: _ack(a, cmd, now),
        "assign": lambda a: _assign(a, cmd, now),
        "resolve": lambda a: _resolve(a, cmd, now),
    }
    step = steps[cmd.action]
    outcome = BulkOutcome()
    events = []
    repository = AlertRepository(uow)
    for alert_id in _first_each(cmd.ids):
        before = found.get(alert_id)
        if before is None:
            outcome.skipped.append((alert_id, "not found"))
            continue
        try:
            after, data = step(before)
        except InvalidAlertTransition as refused:
            outcome.skipped.append((alert_id, f"status is {refused.current_status}"))
            continue
        if not after.changed:
            outcome.skipped.append((alert_id, "unchanged"))
            continue
        await repository.save(after)
        events.append(_event(after, data, ctx))
        outcome.updated.append(alert_id)
    await uow.outbox.add_all(events)
    await uow.commit()
    return outcome


def _first_each(ids: list[UUID]) -> list[UUID]:
    return list(dict.fromkeys(ids))


def _ack(alert: Alert, cmd: BulkAction, now: datetime) -> tuple[Alert, EventData]:
    after = alert.acknowledge(by=cmd.by, now=now)
    return after, AlertAcknowledged(**_snapshot(after))


def _assign(alert: Alert, cmd: BulkAction, now: datetime) -> tuple[Alert, EventData]:
    after = alert.assign(cmd.user_id, now=now)
    return after, AlertAssigned(**_snapshot(after), previous_assignee=alert.assigned_to)


def _resolve(alert: Alert, cmd: BulkAction, now: datetime) -> tuple[Alert, EventData]:
    assert cmd.resolution is not None
    after = alert.resolve(cmd.resolution, cmd.note, by=cmd.by, now=now)
    return after, AlertResolved(**_snapshot(after), note=cmd.note)
