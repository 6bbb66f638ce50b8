"""Matching alerts against active indicators: one lookup per batch, never per observable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from mss_db import UnitOfWork
from mss_security.adapters.intel_repository import IndicatorRepository
from mss_security.domain.indicators import Indicator, MatchKeys, enrichment_of, matching


def _applies(indicator: Indicator, org_id: UUID) -> bool:
    return indicator.org_id is None or indicator.org_id == org_id


def matches_for(org_id: UUID, keys: MatchKeys, candidates: list[Indicator]) -> list[Indicator]:
    return [c for c in candidates if _applies(c, org_id) and matching(keys, c)]


async def enrich_at_ingest(
    alerts: list[tuple[UUID, MatchKeys]], *, uow: UnitOfWork
) -> list[dict[str, Any]]:
    """Each alert's enrichment, from one lookup for the whole batch."""
    candidates = await IndicatorRepository(uow).matching(
        {org for org, _ in alerts}, [keys for _, keys in alerts], now=datetime.now(UTC)
    )
    if not candidates:
        return [enrichment_of([]) for _ in alerts]
    return [enrichment_of(matches_for(org, keys, candidates)) for org, keys in alerts]
