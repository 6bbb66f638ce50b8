"""A comment on an alert: analysts' notes, some of them meant for the customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from mss_security.domain.alerts import CommentVisibility


@dataclass(frozen=True, slots=True)
class Comment:
    id: UUID
    org_id: UUID
    alert_id: UUID
    author_id: UUID
    body: str
    visibility: CommentVisibility
    created_at: datetime
