"""HTTP routes of the alerts (API.md "Domain resources → Alerts")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.permissions import OrganizationType
from mss_security.adapters.quota import IngestQuota
from mss_security.api.schemas import (
    AlertBatch,
    AlertCreate,
    AlertListEnvelope,
    AlertListMeta,
    AlertRead,
    AlertUpdate,
    AssignBody,
    BatchRead,
    BulkBody,
    BulkRead,
    CommentCreate,
    CommentRead,
    EscalateBody,
    EscalationRead,
    ReopenBody,
    ResolveBody,
    SkippedRead,
)
from mss_security.application import alerts as use
from mss_security.domain.alerts import (
    AlertStatus,
    Category,
    Observable,
    Severity,
    derive_fingerprint,
)
from mss_security.domain.errors import InvalidIngest, InvalidListQuery, OrganizationNotAllowed
from mss_security.domain.ingest import IncomingAlert
from mss_security.domain.listing import AlertFilter, Cursor, Sort, check_q, parse_choices
from mss_service import Runtime, event_context, record_access
from mss_web.bodies import JsonBodyRoute
from mss_web.envelope import Envelope
from mss_web.versions import IfMatch, expected_version

# Ingest bodies (up to 1,000 alerts) are validated once, from their bytes.
router = APIRouter(prefix="/api/alerts", tags=["alerts"], route_class=JsonBodyRoute)

Reader = Annotated[Principal, Depends(require("alerts:read"))]
Creator = Annotated[Principal, Depends(require("alerts:create"))]
Updater = Annotated[Principal, Depends(require("alerts:update"))]

RESOURCE = "alert"


def _quota(rt: Runtime) -> IngestQuota:
    return IngestQuota(rt.redis, prefix=rt.settings.bus_namespace)


def _incoming(body: AlertCreate, principal: Principal, field: str) -> IncomingAlert:
    """The item with its organization settled: an API key's own (another is 403), else named."""
    if principal.api_key:
        if body.organization_id not in (None, principal.org_id):
            raise OrganizationNotAllowed("This API key feeds another organization")
        org_id = principal.org_id
    elif body.organization_id is None:
        raise InvalidIngest({f"{field}organizationId": "required"})
    elif not principal.scope.allows(body.organization_id):
        raise InvalidIngest({f"{field}organizationId": "not an active customer organization"})
    else:
        org_id = body.organization_id
    fingerprint = body.fingerprint or derive_fingerprint(
        source=body.source,
        source_ref=body.source_ref,
        category=body.category.value,
        title=body.title,
        assets=body.affected_assets,
    )
    return IncomingAlert(
        org_id=org_id,
        title=body.title,
        description=body.description,
        severity=body.severity,
        category=body.category,
        source=body.source,
        source_ref=body.source_ref,
        fingerprint=fingerprint,
        seen_at=body.occurred_at or datetime.now(UTC),
        affected_assets=tuple(body.affected_assets),
        observables=tuple(Observable(type=o.type, value=o.value) for o in body.observables),
        metadata=body.metadata,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[AlertRead],
    responses={200: {"description": "A duplicate: the existing alert, one more occurrence"}},
)
async def ingest_alert(
    body: AlertCreate, request: Request, response: Response, principal: Creator, rt: Runtime
) -> Envelope[AlertRead]:
    items = [_incoming(body, principal, "")]
    async with rt.uow(principal.scope) as uow:
        try:
            outcome = await use.ingest_alerts(
                items,
                uow=uow,
                quota=_quota(rt),
                ctx=event_context(request, principal),
                whole=True,
            )
        except InvalidIngest as refused:
            # A single alert's fields are not indexed.
            raise InvalidIngest(
                {k.removeprefix("alerts[0]."): v for k, v in (refused.details or {}).items()}
            ) from refused
    if outcome.items[0].result == "deduplicated":
        response.status_code = status.HTTP_200_OK
    return Envelope(data=AlertRead.model_validate(outcome.alerts[0]))


@router.post("/batch", response_model=Envelope[BatchRead])
async def ingest_batch(
    body: AlertBatch, request: Request, principal: Creator, rt: Runtime
) -> Envelope[BatchRead]:
    items = [_incoming(item, principal, f"alerts[{i}].") for i, item in enumerate(body.alerts)]
    async with rt.uow(principal.scope) as uow:
        outcome = await use.ingest_alerts(
            items, uow=uow, quota=_quota(rt), ctx=event_context(request, principal)
        )
    # One validation for the whole answer (up to 1,000 items), not a model call per item.
    return Envelope(data=BatchRead.model_validate(outcome))


def _assigned(raw: str | None, principal: Principal) -> tuple[UUID | None, bool]:
    if raw is None:
        return None, False
    if raw == "me":
        return principal.user_id, False
    if raw == "none":
        return None, True
    try:
        return UUID(raw), False
    except ValueError as exc:
        raise InvalidListQuery({"assignedTo": "a user id, me or none"}) from exc


@router.get("", response_model=AlertListEnvelope)
async def list_alerts(
    principal: Reader,
    request: Request,
    rt: Runtime,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    severity: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[str | None, Query(alias="status", max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=500)] = None,
    source: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    assigned_to: Annotated[str | None, Query(alias="assignedTo", max_length=36)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
    enriched: Annotated[bool | None, Query()] = None,
    sort: Annotated[str, Query(max_length=20)] = Sort.LAST_SEEN_DESC.value,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AlertListEnvelope:
    try:
        order = Sort(sort)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in Sort)
        raise InvalidListQuery({"sort": f"one of: {allowed}"}) from exc
    user, unassigned = _assigned(assigned_to, principal)
    where = AlertFilter(
        org_ids=frozenset([org_id]) if org_id else None,
        severities=parse_choices("severity", severity, Severity),
        statuses=parse_choices("status", status_, AlertStatus),
        categories=parse_choices("category", category, Category),
        source=source,
        assigned_to=user,
        unassigned=unassigned,
        q=check_q(q),
        seen_from=_aware(from_),
        seen_to=_aware(to),
        enriched=enriched,
    )
    position = Cursor.decode(cursor, order) if cursor else None
    async with rt.uow(principal.scope) as uow:
        page = await use.list_alerts(where, sort=order, cursor=position, limit=limit, uow=uow)
    record_access(
        request, principal, resource_type=RESOURCE, org_ids={a.org_id for a in page.alerts}
    )
    return AlertListEnvelope(
        data=[AlertRead.model_validate(a) for a in page.alerts],
        meta=AlertListMeta(
            limit=limit,
            next_cursor=page.next_cursor.encode() if page.next_cursor else None,
            total=page.total,
            total_exact=page.total_exact,
        ),
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.post("/bulk", response_model=Envelope[BulkRead])
async def bulk_action(
    body: BulkBody, request: Request, principal: Updater, rt: Runtime
) -> Envelope[BulkRead]:
    cmd = use.BulkAction(
        ids=body.ids,
        action=body.action,
        by=principal.user_id,
        user_id=body.user_id,
        resolution=body.resolution,
        note=body.note,
    )
    async with rt.uow(principal.scope) as uow:
        outcome = await use.bulk_action(cmd, uow=uow, ctx=event_context(request, principal))
    return Envelope(
        data=BulkRead(
            updated=outcome.updated,
            skipped=[SkippedRead(id=i, reason=reason) for i, reason in outcome.skipped],
        )
    )


@router.get("/{id}", response_model=Envelope[AlertRead])
async def get_alert(
    id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[AlertRead]:
    async with rt.uow(principal.scope) as uow:
        alert = await use.get_alert(id, uow=uow)
    record_access(
        request, principal, resource_type=RESOURCE, org_ids=[alert.org_id], resource_id=id
    )
    return Envelope(data=AlertRead.model_validate(alert))


@router.patch("/{id}", response_model=Envelope[AlertRead])
async def update_alert(
    id: UUID,
    body: AlertUpdate,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[AlertRead]:
    # A field sent as null is left as it is: every one of these is required on the alert.
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "severity" in changes:
        changes["severity"] = Severity(changes["severity"])
    if "category" in changes:
        changes["category"] = Category(changes["category"])
    async with rt.uow(principal.scope) as uow:
        alert = await use.update_alert(
            id,
            changes,
            expected_version=expected_version(if_match, "alert"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=AlertRead.model_validate(alert))


@router.post("/{id}/acknowledge", response_model=Envelope[AlertRead])
async def acknowledge_alert(
    id: UUID, request: Request, principal: Updater, rt: Runtime, if_match: IfMatch = None
) -> Envelope[AlertRead]:
    async with rt.uow(principal.scope) as uow:
        alert = await use.acknowledge_alert(
            id,
            by=principal.user_id,
            expected_version=expected_version(if_match, "alert"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=AlertRead.model_validate(alert))


@router.post("/{id}/assign", response_model=Envelope[AlertRead])
async def assign_alert(
    id: UUID,
    body: AssignBody,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[AlertRead]:
    async with rt.uow(principal.scope) as uow:
        alert = await use.assign_alert(
            id,
            body.user_id,
            expected_version=expected_version(if_match, "alert"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=AlertRead.model_validate(alert))


@router.post("/{id}/resolve", response_model=Envelope[AlertRead])
async def resolve_alert(
    id: UUID,
    body: ResolveBody,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[AlertRead]:
    async with rt.uow(principal.scope) as uow:
        alert = await use.resolve_alert(
            id,
            body.resolution,
            body.note,
            by=principal.user_id,
            expected_version=expected_version(if_match, "alert"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=AlertRead.model_validate(alert))


@router.post("/{id}/reopen", response_model=Envelope[AlertRead])
async def reopen_alert(
    id: UUID,
    body: ReopenBody,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[AlertRead]:
    async with rt.uow(principal.scope) as uow:
        alert = await use.reopen_alert(
            id,
            body.reason,
            expected_version=expected_version(if_match, "alert"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=AlertRead.model_validate(alert))


@router.post(
    "/{id}/escalate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[EscalationRead],
)
async def escalate_alert(
    id: UUID,
    body: EscalateBody,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[EscalationRead]:
    cmd = use.Escalate(
        priority=body.priority,
        type=body.type,
        title=body.title,
        description=body.description,
        requested_by=principal.user_id,
    )
    async with rt.uow(principal.scope) as uow:
        alert = await use.escalate_alert(
            id,
            cmd,
            expected_version=expected_version(if_match, "alert"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    assert alert.intervention_id is not None
    return Envelope(
        data=EscalationRead(
            alert=AlertRead.model_validate(alert), intervention_id=alert.intervention_id
        )
    )


@router.get("/{id}/comments", response_model=Envelope[list[CommentRead]])
async def list_comments(
    id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[list[CommentRead]]:
    async with rt.uow(principal.scope) as uow:
        alert, comments = await use.list_comments(
            id, customer_reader=principal.org_type is OrganizationType.CUSTOMER, uow=uow
        )
    record_access(
        request, principal, resource_type="alert_comment", org_ids=[alert.org_id], resource_id=id
    )
    return Envelope(data=[CommentRead.model_validate(c) for c in comments])


@router.post(
    "/{id}/comments", status_code=status.HTTP_201_CREATED, response_model=Envelope[CommentRead]
)
async def comment_alert(
    id: UUID, body: CommentCreate, request: Request, principal: Updater, rt: Runtime
) -> Envelope[CommentRead]:
    async with rt.uow(principal.scope) as uow:
        comment = await use.comment_alert(
            id,
            body.body,
            body.visibility,
            author_id=principal.user_id,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=CommentRead.model_validate(comment))
