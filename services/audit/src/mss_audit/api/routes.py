"""HTTP routes of the audit service (API.md "Audit"); every one needs `audit:read`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from mss_audit.adapters.repository import LogFilter
from mss_audit.api.export import EXPORT_PAGE, ExportFormat, export_lines
from mss_audit.api.schemas import AuditLogRead, StoredEventRead, VerificationRead
from mss_audit.application import records as use
from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.api import CursorMeta
from mss_service import Runtime, record_access
from mss_web.envelope import CursorEnvelope, Envelope

router = APIRouter(prefix="/api/audit", tags=["audit"])

Reader = Annotated[Principal, Depends(require("audit:read"))]


async def log_filter(
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    user_id: Annotated[UUID | None, Query(alias="userId")] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    resource_type: Annotated[str | None, Query(alias="resourceType", max_length=100)] = None,
    resource_id: Annotated[UUID | None, Query(alias="resourceId")] = None,
    success: bool | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> LogFilter:
    """The filters `/logs` and `/logs/export` share (API.md)."""
    return LogFilter(
        org_id=org_id,
        user_id=user_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        success=success,
        since=since,
        until=until,
    )


Filter = Annotated[LogFilter, Depends(log_filter)]


@router.get("/logs", response_model=CursorEnvelope[AuditLogRead])
async def list_logs(
    principal: Reader,
    request: Request,
    rt: Runtime,
    where: Filter,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CursorEnvelope[AuditLogRead]:
    async with rt.uow(principal.scope) as uow:
        page = await use.read_logs(where, cursor=cursor, limit=limit, uow=uow)
    shown = (item.org_id for item in page.items if item.org_id is not None)
    record_access(request, principal, resource_type="audit_log", org_ids=shown)
    return CursorEnvelope(
        data=[AuditLogRead.model_validate(item) for item in page.items],
        meta=CursorMeta(limit=limit, next_cursor=page.next_cursor),
    )


@router.get("/logs/export")
async def export_logs(
    principal: Reader,
    request: Request,
    rt: Runtime,
    where: Filter,
    format: Annotated[ExportFormat, Query()] = ExportFormat.JSONL,
) -> StreamingResponse:
    """Every matching entry, newest first, streamed page by page (one short transaction
    each), so an export of any size holds neither a transaction nor the whole log open."""

    async def pages() -> AsyncIterator[list[AuditLogRead]]:
        cursor: str | None = None
        while True:
            async with rt.uow(principal.scope) as uow:
                page = await use.read_logs(where, cursor=cursor, limit=EXPORT_PAGE, uow=uow)
            shown = (item.org_id for item in page.items if item.org_id is not None)
            record_access(request, principal, resource_type="audit_log", org_ids=shown)
            yield [AuditLogRead.model_validate(item) for item in page.items]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        export_lines(pages(), format),
        media_type=format.media_type,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format.value}"'},
    )


@router.get("/events", response_model=Envelope[list[StoredEventRead]])
async def aggregate_events(
    principal: Reader,
    request: Request,
    rt: Runtime,
    aggregate_id: Annotated[UUID, Query(alias="aggregateId")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Envelope[list[StoredEventRead]]:
    async with rt.uow(principal.scope) as uow:
        rows = await use.aggregate_events(aggregate_id, limit=limit, uow=uow)
    record_access(
        request,
        principal,
        resource_type="event",
        org_ids=(r.org_id for r in rows if r.org_id is not None),
        resource_id=aggregate_id,
    )
    return Envelope(data=[StoredEventRead.model_validate(row) for row in rows])


@router.get("/verify", response_model=Envelope[VerificationRead])
async def verify(
    principal: Reader,
    request: Request,
    rt: Runtime,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
) -> Envelope[VerificationRead]:
    async with rt.uow(principal.scope) as uow:
        result = await use.verify_chains(org_id, uow=uow)
    if org_id is not None:
        record_access(request, principal, resource_type="audit_log", org_ids=[org_id])
    return Envelope(data=VerificationRead.model_validate(result))
