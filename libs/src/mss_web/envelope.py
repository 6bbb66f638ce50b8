"""The success envelope: `{"success": true, "data": ..., "meta"?: ...}`."""

from __future__ import annotations

import math
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import Field

from mss_contracts.api import ApiModel, CursorMeta, PageMeta

T = TypeVar("T")


class Envelope(ApiModel, Generic[T]):
    success: Literal[True] = True
    data: T
    message: str | None = Field(default=None, exclude_if=lambda value: value is None)


class PageEnvelope(ApiModel, Generic[T]):
    success: Literal[True] = True
    data: list[T]
    meta: PageMeta


class CursorEnvelope(ApiModel, Generic[T]):
    success: Literal[True] = True
    data: list[T]
    meta: CursorMeta


class PageParams(ApiModel):
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def meta(self, total: int) -> PageMeta:
        return PageMeta(
            total=total,
            page=self.page,
            limit=self.limit,
            total_pages=math.ceil(total / self.limit) if total else 0,
        )


async def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    """Pagination query (`page` ≥ 1, `limit` 1–100, default 20); `async` so FastAPI does not
    run it in its thread pool."""
    return PageParams(page=page, limit=limit)
