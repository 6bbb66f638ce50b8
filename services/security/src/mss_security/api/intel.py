"""HTTP routes of threat intelligence (API.md "Domain resources → Threat intelligence").

Provider staff only: customers never read the feed (they lack `threat_intel:read`) and see
indicators only inside their own alerts' enrichment.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_security.adapters.intel_repository import IndicatorQuery
from mss_security.api.intel_schemas import (
    CursorMeta,
    ImportQueued,
    ImportRead,
    IndicatorBatch,
    IndicatorListEnvelope,
    IndicatorRead,
    UpsertRead,
    label_problems,
)
from mss_security.application import intel as use
from mss_security.domain.errors import InvalidIndicators, InvalidListQuery
from mss_security.domain.indicators import IndicatorInput, IndicatorType, InvalidValue, normalize
from mss_service import Runtime, event_context
from mss_web.envelope import Envelope

router = APIRouter(prefix="/api/threat-intel", tags=["threat-intel"])

Reader = Annotated[Principal, Depends(require("threat_intel:read"))]
Manager = Annotated[Principal, Depends(require("threat_intel:manage"))]

CONTENT_TYPES = {"application/stix+json": "stix", "text/csv": "csv"}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/stix+json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


def _inputs(body: IndicatorBatch, principal: Principal) -> dict[UUID | None, list[IndicatorInput]]:
    """The batch normalized and grouped by organization; any bad item refuses it whole."""
    problems: dict[str, str] = {}
    by_org: dict[UUID | None, list[IndicatorInput]] = defaultdict(list)
    for index, item in enumerate(body.indicators):
        field = f"indicators[{index}]"
        if item.organization_id is not None and not principal.scope.allows(item.organization_id):
            problems[f"{field}.organizationId"] = "not an organization in your scope"
        if (labels := label_problems(item.labels)) is not None:
            problems[f"{field}.labels"] = labels
        if item.valid_from and item.valid_until and item.valid_until <= item.valid_from:
            problems[f"{field}.validUntil"] = "must be after validFrom"
        try:
            value = normalize(item.type, item.value)
        except InvalidValue as exc:
            problems[f"{field}.value"] = f"{item.value[:100]!r}: {exc}"
            continue
        by_org[item.organization_id].append(
            IndicatorInput(
                type=item.type,
                value=value,
                confidence=item.confidence,
                tlp=item.tlp,
                labels=tuple(item.labels),
                source=item.source,
                description=item.description,
                valid_from=item.valid_from,
                valid_until=item.valid_until,
                stix_id=item.stix_id,
            )
        )
    if problems:
        raise InvalidIndicators(problems)
    return by_org


@router.post("/indicators", response_model=Envelope[UpsertRead])
async def upsert_indicators(
    body: IndicatorBatch, request: Request, principal: Manager, rt: Runtime
) -> Envelope[UpsertRead]:
    groups = _inputs(body, principal)
    async with rt.uow(principal.scope) as uow:
        outcome = await use.upsert_indicators(
            groups, uow=uow, ctx=event_context(request, principal)
        )
    return Envelope(data=UpsertRead(created=outcome.created, updated=outcome.updated))


def _cursor(raw: str | None) -> UUID | None:
    if raw is None:
        return None
    try:
        return UUID(bytes=base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidListQuery({"cursor": "not a cursor of this list"}) from exc


def _encode(after: UUID | None) -> str | None:
    return base64.urlsafe_b64encode(after.bytes).rstrip(b"=").decode() if after else None


@router.get("/indicators", response_model=IndicatorListEnvelope)
async def list_indicators(
    principal: Reader,
    rt: Runtime,
    type_: Annotated[IndicatorType | None, Query(alias="type")] = None,
    value: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    q: Annotated[str | None, Query(min_length=3, max_length=200)] = None,
    active: Annotated[bool | None, Query()] = None,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IndicatorListEnvelope:
    """`value` is normalized as `type` when both are given (so it finds what was stored)."""
    if value is not None and type_ is not None:
        try:
            value = normalize(type_, value)
        except InvalidValue as exc:
            raise InvalidListQuery({"value": str(exc)}) from exc
    query = IndicatorQuery(type=type_, value=value, q=q, active=active, org_id=org_id)
    async with rt.uow(principal.scope) as uow:
        page, after = await use.list_indicators(query, after=_cursor(cursor), limit=limit, uow=uow)
    return IndicatorListEnvelope(
        data=[IndicatorRead.model_validate(i) for i in page],
        meta=CursorMeta(limit=limit, next_cursor=_encode(after)),
    )


@router.delete("/indicators/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_indicator(id: UUID, request: Request, principal: Manager, rt: Runtime) -> Response:
    async with rt.uow(principal.scope) as uow:
        await use.delete_indicator(id, uow=uow, ctx=event_context(request, principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[ImportQueued],
    openapi_extra=IMPORT_BODY,
)
async def request_import(
    request: Request,
    principal: Manager,
    rt: Runtime,
    organization_id: Annotated[UUID | None, Query(alias="organizationId")] = None,
) -> Envelope[ImportQueued]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    content_type = CONTENT_TYPES.get(media)
    if content_type is None:
        raise InvalidListQuery({"Content-Type": "application/stix+json or text/csv"})
    if organization_id is not None and not principal.scope.allows(organization_id):
        raise InvalidListQuery({"organizationId": "not an organization in your scope"})
    body = await request.body()
    if not body:
        raise InvalidListQuery({"body": "empty feed"})
    async with rt.uow(principal.scope) as uow:
        job = await use.request_import(
            org_id=organization_id,
            content_type=content_type,
            body=body,
            requested_by=principal.user_id,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ImportQueued(id=job.id))


@router.get("/imports/{id}", response_model=Envelope[ImportRead])
async def get_import(id: UUID, principal: Reader, rt: Runtime) -> Envelope[ImportRead]:
    async with rt.uow(principal.scope) as uow:
        job = await use.get_import(id, uow=uow)
    return Envelope(data=ImportRead.model_validate(job))
