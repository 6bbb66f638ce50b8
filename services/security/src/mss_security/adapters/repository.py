"""Items in PostgreSQL: explicit Core statements on the table model (RLS scopes every one)."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlmodel import col

from mss_db import UnitOfWork
from mss_security.adapters.tables import ItemRow
from mss_security.domain.items import Item


class ItemRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(self, item: Item) -> None:
        await self._conn.execute(
            insert(ItemRow).values(
                id=item.id,
                org_id=item.org_id,
                name=item.name,
                created_by=item.created_by,
                created_at=item.created_at,
            )
        )

    async def page(self, *, offset: int, limit: int) -> tuple[list[Item], int]:
        """Newest first; only the organizations in the unit of work's scope (RLS)."""
        rows = await self._conn.execute(
            select(ItemRow)
            .order_by(col(ItemRow.created_at).desc(), col(ItemRow.id))
            .offset(offset)
            .limit(limit)
        )
        total = await self._conn.scalar(select(func.count()).select_from(ItemRow))
        items = [
            Item(
                id=row.id,
                org_id=row.org_id,
                name=row.name,
                created_by=row.created_by,
                created_at=row.created_at,
            )
            for row in rows
        ]
        return items, int(total or 0)
