"""The dashboard: where things stand for one organization or the caller's whole scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from mss_db import UnitOfWork
from mss_security.adapters.dashboard import Activity, DashboardReads, DashboardScope
from mss_security.domain.alerts import AlertStatus, Severity
from mss_security.domain.reports import mean_seconds

RECENT = 20
MEAN_WINDOW_DAYS = 30
# A deadline unmet and this close counts as at risk.
AT_RISK_WINDOW = timedelta(hours=1)
INTERVENTION_STATUSES = (
    "requested",
    "approved",
    "scheduled",
    "in_progress",
    "completed",
    "cancelled",
)
CLOSED = frozenset({"completed", "cancelled"})


@dataclass(frozen=True, slots=True)
class AlertBoard:
    open_by_severity: dict[str, int]
    by_status: dict[str, int]
    last24h: int
    mtta_seconds: float | None
    mttr_seconds: float | None


@dataclass(frozen=True, slots=True)
class InterventionBoard:
    open: int
    by_status: dict[str, int]
    sla_breached: int
    sla_at_risk: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    organizations: int
    alerts: AlertBoard
    interventions: InterventionBoard
    recent: list[Activity]


async def dashboard(
    org_id: UUID | None, *, uow: UnitOfWork, now: datetime | None = None
) -> Dashboard:
    """`org_id` (already checked to be in scope) or the scope summed; a few index reads."""
    now = now or datetime.now(UTC)
    reads = DashboardReads(uow)
    scope_orgs: frozenset[UUID] | None
    if org_id is not None:
        scope_orgs = frozenset([org_id])
    elif uow.scope.all_orgs:
        scope_orgs = None
    else:
        scope_orgs = uow.scope.org_ids
    scope = DashboardScope(org_ids=scope_orgs)
    organizations = len(scope_orgs) if scope_orgs is not None else await reads.customer_count()

    open_by_severity = {s.value: 0 for s in reversed(Severity)}
    by_status = {s.value: 0 for s in AlertStatus}
    for row in await reads.alert_counts(scope):
        status = AlertStatus.of_code(row.status)
        by_status[status.value] += int(row.alerts)
        if status is not AlertStatus.RESOLVED:
            open_by_severity[Severity.of_rank(row.severity).value] += int(row.alerts)
    since = (now - timedelta(days=MEAN_WINDOW_DAYS - 1)).date()
    sums = await reads.time_sums(scope, since)
    alerts = AlertBoard(
        open_by_severity=open_by_severity,
        by_status=by_status,
        last24h=await reads.first_seen_since(scope, now - timedelta(hours=24)),
        mtta_seconds=mean_seconds(sums.ack_seconds, sums.acknowledged),
        mttr_seconds=mean_seconds(sums.resolve_seconds, sums.resolved),
    )

    work_by_status = dict.fromkeys(INTERVENTION_STATUSES, 0)
    breached = at_risk = 0
    for row in await reads.intervention_counts(scope, now=now, risk_window=AT_RISK_WINDOW):
        work_by_status[row.status] = work_by_status.get(row.status, 0) + int(row.total)
        breached += int(row.breached)
        at_risk += int(row.at_risk)
    interventions = InterventionBoard(
        open=sum(n for status, n in work_by_status.items() if status not in CLOSED),
        by_status=work_by_status,
        sla_breached=breached,
        sla_at_risk=at_risk,
    )
    return Dashboard(
        organizations=organizations,
        alerts=alerts,
        interventions=interventions,
        recent=await reads.recent(scope, RECENT),
    )
