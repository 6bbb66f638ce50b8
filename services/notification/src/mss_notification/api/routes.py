"""HTTP routes of the notification service (none yet: health, ready and metrics only)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/notifications", tags=["notification"])
