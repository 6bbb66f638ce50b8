"""Matching alerts against active indicators: one lookup per batch, never per observable."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from mss_db import UnitOfWork
from mss_security.adapters.intel_repository import IndicatorRepository
from mss_security.domain.indicators import Indicator, MatchKeys, enrichment_of


class Candidates:
    """A batch's candidate indicators by what they matched, for a per-alert lookup."""

    def __init__(self, found: list[tuple[str, Indicator]]) -> None:
        self._by_key: dict[str, list[Indicator]] = defaultdict(list)
        for key, indicator in found:
            self._by_key[key].append(indicator)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def for_alert(self, org_id: UUID, keys: MatchKeys) -> list[Indicator]:
        """What matches an alert of `org_id` offering `keys`: global or its own org's."""
        found: dict[UUID, Indicator] = {}
        for key in keys.values | keys.addresses:
            for indicator in self._by_key.get(key, ()):
                if indicator.org_id is None or indicator.org_id == org_id:
                    found[indicator.id] = indicator
        return list(found.values())


async def enrich_at_ingest(
    alerts: list[tuple[UUID, MatchKeys]], *, uow: UnitOfWork
) -> list[dict[str, Any]]:
    """Each alert's enrichment, from one lookup for the whole batch."""
    candidates = Candidates(
        await IndicatorRepository(uow).matching(
            {org for org, _ in alerts}, [keys for _, keys in alerts], now=datetime.now(UTC)
        )
    )
    if not candidates:
        return [enrichment_of([]) for _ in alerts]
    return [enrichment_of(candidates.for_alert(org, keys)) for org, keys in alerts]
