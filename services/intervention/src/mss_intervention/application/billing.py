"""Billable hours per organization over a window of work-log `at`, as JSON rows or CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from mss_db import UnitOfWork
from mss_intervention.adapters.repository import BillableEntry, InterventionRepository
from mss_intervention.domain.intervention import QUARTERS_PER_HOUR

CSV_COLUMNS = ("organizationId", "interventionId", "type", "technicianId", "hours")
# A cell starting with one of these is a formula to a spreadsheet: prefix it with `'`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(slots=True)
class OrganizationBilling:
    organization_id: UUID
    interventions: int = 0
    hours: float = 0.0
    by_type: dict[str, float] = field(default_factory=dict)
    by_technician: dict[UUID, float] = field(default_factory=dict)


async def billable_entries(
    *, org_id: UUID | None, start: datetime, end: datetime, uow: UnitOfWork
) -> list[BillableEntry]:
    return await InterventionRepository(uow).billable(org_id=org_id, start=start, end=end)


def per_organization(entries: list[BillableEntry]) -> list[OrganizationBilling]:
    """Sums in quarters (exact), hours only at the end."""
    quarters: dict[UUID, int] = defaultdict(int)
    by_type: dict[UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_technician: dict[UUID, dict[UUID, int]] = defaultdict(lambda: defaultdict(int))
    interventions: dict[UUID, set[UUID]] = defaultdict(set)
    for entry in entries:
        quarters[entry.org_id] += entry.quarters
        by_type[entry.org_id][entry.type.value] += entry.quarters
        by_technician[entry.org_id][entry.user_id] += entry.quarters
        interventions[entry.org_id].add(entry.intervention_id)
    return [
        OrganizationBilling(
            organization_id=org,
            interventions=len(interventions[org]),
            hours=quarters[org] / QUARTERS_PER_HOUR,
            by_type={k: v / QUARTERS_PER_HOUR for k, v in sorted(by_type[org].items())},
            by_technician={k: v / QUARTERS_PER_HOUR for k, v in sorted(by_technician[org].items())},
        )
        for org in sorted(quarters)
    ]


def defuse(cell: str) -> str:
    """A spreadsheet never runs a cell as a formula (OWASP CSV injection)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def as_csv(entries: list[BillableEntry]) -> str:
    """One row per organization, intervention, type and technician (the csv module quotes)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                defuse(str(value))
                for value in (
                    entry.org_id,
                    entry.intervention_id,
                    entry.type.value,
                    entry.user_id,
                    _hours(entry.quarters),
                )
            ]
        )
    return out.getvalue()


def _hours(quarters: int) -> str:
    return f"{quarters / QUARTERS_PER_HOUR:g}"
