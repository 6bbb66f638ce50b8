"""Async engines (asyncpg) with JSON that understands our types."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def _default(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose connections never keep state between transactions."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        json_serializer=json_dumps,
    )
