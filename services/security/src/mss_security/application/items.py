"""Item use cases: each writes state and its event in the route's unit of work, then commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_contracts.events import EventContext, new_event
from mss_db import OrgScope, UnitOfWork
from mss_security.adapters.repository import ItemRepository
from mss_security.application.events import ItemCreated
from mss_security.domain.errors import OrganizationNotFound
from mss_security.domain.items import Item, clean_name


@dataclass(frozen=True, slots=True)
class CreateItem:
    org_id: UUID
    name: str
    created_by: UUID | None


async def create_item(
    cmd: CreateItem, *, scope: OrgScope, uow: UnitOfWork, ctx: EventContext
) -> Item:
    if not scope.allows(cmd.org_id):
        # Outside the caller's scope looks exactly like an organization that does not exist.
        raise OrganizationNotFound()
    item = Item(
        id=uuid4(),
        org_id=cmd.org_id,
        name=clean_name(cmd.name),
        created_by=cmd.created_by,
        created_at=datetime.now(UTC),
    )
    await ItemRepository(uow).add(item)
    await uow.outbox.add(
        new_event(
            ItemCreated(name=item.name, created_by=item.created_by),
            aggregate_id=item.id,
            organization_id=item.org_id,
            version=item.version,
            context=ctx,
        )
    )
    await uow.commit()
    return item


async def list_items(*, offset: int, limit: int, uow: UnitOfWork) -> tuple[list[Item], int]:
    return await ItemRepository(uow).page(offset=offset, limit=limit)
