"""HTTP routes of the security service: the items example (replace it with the real API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_security.api.schemas import ItemCreate, ItemRead
from mss_security.application import items as use
from mss_service import Runtime, event_context, record_access
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params

router = APIRouter(prefix="/api/alerts/items", tags=["security"])

# Permissions of the matrix (mss_contracts.permissions), chosen by scripts/new-service.
Reader = Annotated[Principal, Depends(require("alerts:read"))]
Creator = Annotated[Principal, Depends(require("alerts:create"))]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[ItemRead])
async def create_item(
    body: ItemCreate, request: Request, principal: Creator, rt: Runtime
) -> Envelope[ItemRead]:
    cmd = use.CreateItem(
        org_id=body.organization_id or principal.org_id,
        name=body.name,
        created_by=principal.user_id,
    )
    async with rt.uow(principal.scope) as uow:
        item = await use.create_item(
            cmd, scope=principal.scope, uow=uow, ctx=event_context(request, principal)
        )
    return Envelope(data=ItemRead.model_validate(item))


@router.get("", response_model=PageEnvelope[ItemRead])
async def list_items(
    principal: Reader,
    request: Request,
    rt: Runtime,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageEnvelope[ItemRead]:
    async with rt.uow(principal.scope) as uow:
        items, total = await use.list_items(offset=page.offset, limit=page.limit, uow=uow)
    record_access(
        request, principal, resource_type="security_item", org_ids=(i.org_id for i in items)
    )
    return PageEnvelope(data=[ItemRead.model_validate(i) for i in items], meta=page.meta(total))
