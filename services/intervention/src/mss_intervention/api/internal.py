"""The intervention service's internal read endpoint: what other services project.

The security service asks for an intervention its read model lacks (an alert escalated a
moment ago, its intervention.requested still on the bus) before it counts a report's
interventions. Service tokens only; the gateway never routes `/internal/`, and the public
OpenAPI document leaves these routes out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Depends

from mss_auth.dependencies import ServiceCaller
from mss_contracts.internal import InterventionRecord
from mss_db import OrgScope
from mss_intervention.application.events import snapshot_fields
from mss_intervention.application.interventions import get_intervention
from mss_service import Runtime
from mss_web.envelope import Envelope

router = APIRouter(
    prefix="/internal",
    tags=["internal"],
    include_in_schema=False,
    dependencies=[Depends(ServiceCaller())],
)


@router.get("/interventions/{id}", response_model=Envelope[InterventionRecord])
async def intervention_record(id: UUID, rt: Runtime) -> Envelope[InterventionRecord]:
    """What intervention.* events carry, and the version; 404 if unknown."""
    async with rt.uow(OrgScope.everything()) as uow:
        item = await get_intervention(id, uow=uow)
    now = datetime.now(UTC)
    return Envelope(
        data=InterventionRecord(
            **snapshot_fields(item),
            id=item.id,
            organization_id=item.org_id,
            response_breached=item.response_breached(now),
            resolution_breached=item.resolution_breached(now),
            created_at=item.created_at,
            updated_at=item.updated_at,
            version=item.version,
        )
    )
