"""Threat-intelligence use cases: indicators, import jobs, matching and retro-hunts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from mss_contracts.events import (
    AlertEnriched,
    EventContext,
    IndicatorDeleted,
    IndicatorsUpserted,
    IntelImportFinished,
    IntelImportRequested,
    new_event,
)
from mss_db import UnitOfWork
from mss_db.scope import OrgScope
from mss_security.adapters.intel_repository import (
    Hunt,
    HuntRepository,
    ImportJob,
    ImportRepository,
    IndicatorQuery,
    IndicatorRepository,
    Progress,
)
from mss_security.adapters.repository import AlertRepository
from mss_security.application.alerts import _snapshot
from mss_security.application.matching import Candidates
from mss_security.domain.alerts import Alert, AlertStatus, Observable, ObservableType
from mss_security.domain.errors import ImportNotFound, IndicatorNotFound
from mss_security.domain.feeds import (
    Accepted,
    FeedError,
    Outcome,
    Rejected,
    Skipped,
    csv_row,
    csv_rows,
    stix_object,
    stix_objects,
)
from mss_security.domain.indicators import (
    ERRORS_KEPT,
    Indicator,
    IndicatorInput,
    MatchKeys,
    fold_inputs,
    match_keys,
    merged_enrichment,
)

UowFactory = Callable[[OrgScope], UnitOfWork]

# A retro-hunt looks at unresolved alerts seen in this window, this many per transaction.
HUNT_WINDOW = timedelta(days=30)
HUNT_CHUNK = 500
# An import writes (and reports progress) per this many indicators.
IMPORT_CHUNK = 2000
# While a chunk is written, parsing yields to the loop every this many objects.
YIELD_EVERY = 50
LEASE_S = 60


def _audit(data: Any, *, aggregate_id: UUID, org_id: UUID | None, ctx: EventContext) -> Any:
    return new_event(
        data, aggregate_id=aggregate_id, organization_id=org_id, version=1, context=ctx
    )


# --- indicators ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    created: int
    updated: int


async def upsert_indicators(
    groups: dict[UUID | None, list[IndicatorInput]], *, uow: UnitOfWork, ctx: EventContext
) -> UpsertOutcome:
    """Create or update by (organization, type, value) in one transaction, grouped by
    organization (None: provider-wide); a retro-hunt of what changed follows in the worker."""
    created = updated = 0
    events = []
    for org_id, items in groups.items():
        count = await IndicatorRepository(uow).upsert(
            org_id, fold_inputs(items), now=datetime.now(UTC)
        )
        await HuntRepository(uow).add(org_id, count.ids)
        created += count.created
        updated += count.updated
        events.append(
            _audit(
                IndicatorsUpserted(created=count.created, updated=count.updated),
                aggregate_id=uuid4(),
                org_id=org_id,
                ctx=ctx,
            )
        )
    await uow.outbox.add_all(events)
    await uow.commit()
    return UpsertOutcome(created=created, updated=updated)


async def list_indicators(
    query: IndicatorQuery, *, after: UUID | None, limit: int, uow: UnitOfWork
) -> tuple[list[Indicator], UUID | None]:
    rows = await IndicatorRepository(uow).page(
        query, after=after, limit=limit + 1, now=datetime.now(UTC)
    )
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


async def delete_indicator(indicator_id: UUID, *, uow: UnitOfWork, ctx: EventContext) -> None:
    """Gone from the feed; enrichments already written keep what they showed."""
    repository = IndicatorRepository(uow)
    indicator = await repository.get(indicator_id)
    if indicator is None or (indicator.org_id and not uow.scope.allows(indicator.org_id)):
        raise IndicatorNotFound()
    await repository.delete(indicator)
    await uow.outbox.add(
        _audit(
            IndicatorDeleted(type=indicator.type.value, value=indicator.value),
            aggregate_id=indicator.id,
            org_id=indicator.org_id,
            ctx=ctx,
        )
    )
    await uow.commit()


# --- imports ------------------------------------------------------------------------------


async def request_import(
    *,
    org_id: UUID | None,
    content_type: str,
    body: bytes,
    requested_by: UUID | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> ImportJob:
    """Store the feed as a queued job: a worker parses it, never the API process."""
    job = await ImportRepository(uow).add(
        org_id=org_id, content_type=content_type, body=body, requested_by=requested_by
    )
    await uow.outbox.add(
        _audit(
            IntelImportRequested(content_type=content_type, size_bytes=len(body)),
            aggregate_id=job.id,
            org_id=org_id,
            ctx=ctx,
        )
    )
    await uow.commit()
    return job


async def get_import(job_id: UUID, *, uow: UnitOfWork) -> ImportJob:
    job = await ImportRepository(uow).get(job_id)
    if job is None or (job.org_id and not uow.scope.allows(job.org_id)):
        raise ImportNotFound()
    return job


def _outcomes(content_type: str, body: bytes) -> Iterable[tuple[int, Outcome]]:
    """(position, outcome) per object (0-based, STIX) or data row (1-based, CSV)."""
    if content_type == "stix":
        for position, obj in enumerate(stix_objects(body)):
            yield position, stix_object(obj)
    else:
        for position, row in enumerate(csv_rows(body), start=1):
            yield position, csv_row(row)


@dataclass(slots=True)
class ImportState:
    counts: Progress = dataclasses.field(default_factory=Progress)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    ids: list[UUID] = dataclasses.field(default_factory=list)


async def run_import(
    job: ImportJob,
    body: bytes,
    *,
    uow_factory: UowFactory,
    on_progress: Callable[[Progress], None] | None = None,
) -> ImportJob:
    """Parse and store a claimed job chunk by chunk (each chunk its own transaction, its
    progress visible), then queue one retro-hunt for every indicator it touched.

    A chunk is written while the next one is parsed: PostgreSQL's work on one overlaps
    the worker's parsing of the other (one chunk in flight at most, written in order)."""
    state = ImportState()
    pending: list[IndicatorInput] = []
    scope = OrgScope.everything()
    ctx = EventContext(user_id=job.requested_by)
    in_flight: asyncio.Task[None] | None = None

    async def write(batch: list[IndicatorInput], counts: Progress, errors: list[Any]) -> None:
        async with uow_factory(scope) as uow:
            count = await IndicatorRepository(uow).upsert(
                job.org_id, fold_inputs(batch), now=datetime.now(UTC)
            )
            state.counts.created += count.created
            state.counts.updated += count.updated
            counts.created, counts.updated = state.counts.created, state.counts.updated
            state.ids.extend(count.ids)
            await ImportRepository(uow).progress(
                job.id,
                counts,
                errors=errors,
                skipped_reasons=dict(state.reasons),
                lease_until=datetime.now(UTC) + timedelta(seconds=LEASE_S),
            )
            await uow.commit()
        if on_progress is not None:
            on_progress(counts)

    async def settle() -> None:
        nonlocal in_flight
        if in_flight is not None:
            task, in_flight = in_flight, None
            await task

    async def flush() -> None:
        nonlocal in_flight
        await settle()
        # What this chunk reports: the counts as parsed so far, frozen now (parsing goes
        # on while it is written).
        counts = dataclasses.replace(state.counts)
        in_flight = asyncio.create_task(write(list(pending), counts, list(state.errors)))
        pending.clear()
        # Let the write send its statements before parsing takes the loop again.
        await asyncio.sleep(0)

    try:
        try:
            for position, outcome in _outcomes(job.content_type, body):
                state.counts.total += 1
                if isinstance(outcome, Accepted):
                    pending.append(outcome.indicator)
                elif isinstance(outcome, Skipped):
                    state.counts.skipped += 1
                    state.reasons[outcome.reason] += 1
                elif isinstance(outcome, Rejected):
                    state.counts.rejected += 1
                    if len(state.errors) < ERRORS_KEPT:
                        state.errors.append({"position": position, "message": outcome.message})
                if len(pending) >= IMPORT_CHUNK:
                    await flush()
                elif in_flight is not None and position % YIELD_EVERY == 0:
                    # The write in flight needs the loop for each of its round trips.
                    await asyncio.sleep(0)
            await flush()
        finally:
            await settle()
    except FeedError as unreadable:
        async with uow_factory(scope) as uow:
            failed = await ImportRepository(uow).fail(
                job.id, str(unreadable), now=datetime.now(UTC)
            )
            await _finished(failed, uow=uow, ctx=ctx)
        return failed
    async with uow_factory(scope) as uow:
        await HuntRepository(uow).add(job.org_id, sorted(set(state.ids)))
        done = await ImportRepository(uow).finish(job.id, status="completed", now=datetime.now(UTC))
        await uow.outbox.add(
            _audit(
                IndicatorsUpserted(created=done.created, updated=done.updated, import_id=job.id),
                aggregate_id=uuid4(),
                org_id=job.org_id,
                ctx=ctx,
            )
        )
        await _finished(done, uow=uow, ctx=ctx)
    return done


async def _finished(job: ImportJob, *, uow: UnitOfWork, ctx: EventContext) -> None:
    await uow.outbox.add(
        _audit(
            IntelImportFinished(
                status=job.status,
                total=job.total,
                created=job.created,
                updated=job.updated,
                rejected=job.rejected,
                skipped=job.skipped,
            ),
            aggregate_id=job.id,
            org_id=job.org_id,
            ctx=ctx,
        )
    )
    await uow.commit()


async def import_next(uow_factory: UowFactory) -> bool:
    """Claim and run one queued import; False when there was none."""
    async with uow_factory(OrgScope.everything()) as uow:
        claimed = await ImportRepository(uow).claim(now=datetime.now(UTC), lease_s=LEASE_S)
        await uow.commit()
    if claimed is None:
        return False
    job, body = claimed
    await run_import(job, body, uow_factory=uow_factory)
    return True


# --- retro-hunts -------------------------------------------------------------------------


def _keys(observables: list[dict[str, str]], assets: list[str]) -> MatchKeys:
    return match_keys(
        [
            Observable(type=ObservableType.of_value(o["type"]), value=o["value"])
            for o in observables
        ],
        assets,
    )


async def _hunt_chunk(hunt: Hunt, *, uow: UnitOfWork) -> tuple[UUID | None, bool]:
    """Match one chunk of alerts against every active indicator; (last id, finished).

    Not only the hunt's own: the lookup stays the ingest's (one id filter of a big import
    would make every branch probe by id), and an alert gains whatever it lacks."""
    now = datetime.now(UTC)
    hunts = HuntRepository(uow)
    chunk = await hunts.unresolved_chunk(hunt, hunt.after, since=now - HUNT_WINDOW, size=HUNT_CHUNK)
    if not chunk:
        return hunt.after, True
    keyed = [(a, _keys(a.observables, a.affected_assets)) for a in chunk]
    candidates = Candidates(
        await IndicatorRepository(uow).matching(
            {a.org_id for a in chunk}, [k for _, k in keyed], now=now
        )
    )
    found = {a.id: hits for a, keys in keyed if (hits := candidates.for_alert(a.org_id, keys))}
    if found:
        await _enrich(found, uow=uow, now=now)
    return chunk[-1].id, len(chunk) < HUNT_CHUNK


async def _enrich(found: dict[UUID, list[Indicator]], *, uow: UnitOfWork, now: datetime) -> None:
    """Add what was found to these alerts, locked and read again (a workflow step may have
    changed them meanwhile); those resolved since are left alone."""
    changed: list[Alert] = []
    events = []
    for alert in await AlertRepository(uow).get_many(sorted(found)):
        if alert.status is AlertStatus.RESOLVED:
            continue
        enrichment = merged_enrichment(alert.enrichment, found[alert.id])
        if enrichment == alert.enrichment:
            continue
        after = dataclasses.replace(
            alert, enrichment=enrichment, version=alert.version + 1, updated_at=now
        )
        changed.append(after)
        known = {str(i["id"]) for i in alert.enrichment.get("indicators", [])}
        added = [i.id for i in found[alert.id] if str(i.id) not in known]
        events.append(
            new_event(
                AlertEnriched(**_snapshot(after), indicator_ids=added),
                aggregate_id=after.id,
                organization_id=after.org_id,
                version=after.version,
                context=EventContext(),
            )
        )
    await HuntRepository(uow).save_enrichment(changed, now=now)
    await uow.outbox.add_all(events)


async def hunt_next(uow_factory: UowFactory) -> bool:
    """Run one claimed retro-hunt to its end, chunk by chunk; False when there was none."""
    scope = OrgScope.everything()
    async with uow_factory(scope) as uow:
        hunt = await HuntRepository(uow).claim(now=datetime.now(UTC), lease_s=LEASE_S)
        await uow.commit()
    if hunt is None:
        return False
    done = False
    while not done:
        async with uow_factory(scope) as uow:
            after, done = await _hunt_chunk(hunt, uow=uow)
            await HuntRepository(uow).advance(hunt, after, done=done, now=datetime.now(UTC))
            await uow.commit()
        hunt = dataclasses.replace(hunt, after=after)
    return True
