"""The example aggregate: an item of one organization (replace it with the real ones)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class Item:
    id: UUID
    org_id: UUID
    name: str
    created_by: UUID | None
    created_at: datetime
    version: int = 1


def clean_name(name: str) -> str:
    """Names are compared and shown without surrounding blanks."""
    return name.strip()
