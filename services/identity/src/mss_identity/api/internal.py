"""Identity's internal read endpoint: a user as other services project it.

Another service asks here when its projection lacks a user, or holds one in a state a
rule would refuse (the organization service, granting access to a technician it has not
heard of yet). Service tokens only; the gateway never routes `/internal/`, and the public
OpenAPI document leaves these routes out.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from mss_auth.dependencies import ServiceCaller
from mss_contracts.internal import UserRecord
from mss_db import OrgScope
from mss_identity.api.runtime import Runtime
from mss_identity.application import users
from mss_web.envelope import Envelope

router = APIRouter(
    prefix="/internal",
    tags=["internal"],
    include_in_schema=False,
    dependencies=[Depends(ServiceCaller())],
)


@router.get("/users/{id}", response_model=Envelope[UserRecord])
async def user_record(id: UUID, rt: Runtime) -> Envelope[UserRecord]:
    """The user's organization, role, status, email, names and version; 404 if unknown."""
    everything = OrgScope.everything()
    async with rt.uow(everything) as uow:
        user = await users.get_user(id, scope=everything, uow=uow)
    return Envelope(
        data=UserRecord(
            id=user.id,
            organization_id=user.org_id,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            status=user.status.value,
            version=user.version,
        )
    )
