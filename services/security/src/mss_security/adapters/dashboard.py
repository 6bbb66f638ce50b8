"""The dashboard's reads: the alert rollups (a few primary-key ranges per organization),
the interventions read model, and the newest activity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Row, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from mss_db import UnitOfWork


@dataclass(frozen=True, slots=True)
class DashboardScope:
    """Every organization of the caller's scope (`org_ids` None), or these ones."""

    org_ids: frozenset[UUID] | None


def _where(scope: DashboardScope, column: str = "org_id") -> str:
    """The scope's SQL predicate: one of three fixed fragments (the values are bound), which
    is why the queries below may splice it in (their `noqa: S608`)."""
    if scope.org_ids is None:
        return "true"
    # One organization as an equality, so a generic plan still leads with its index.
    if len(scope.org_ids) == 1:
        return f"{column} = :org_id"
    return f"{column} = ANY(:org_ids)"


def _bound(query: str) -> TextClause:
    clause = text(query)
    if ":org_ids" in query:
        clause = clause.bindparams(bindparam("org_ids", type_=ARRAY(PG_UUID(as_uuid=True))))
    return clause


def _params(scope: DashboardScope, **more: Any) -> dict[str, Any]:
    params = dict(more)
    if scope.org_ids is not None and len(scope.org_ids) == 1:
        params["org_id"] = next(iter(scope.org_ids))
    elif scope.org_ids is not None:
        params["org_ids"] = sorted(scope.org_ids)
    return params


@dataclass(frozen=True, slots=True)
class TimeSums:
    acknowledged: int
    ack_seconds: float
    resolved: int
    resolve_seconds: float


@dataclass(frozen=True, slots=True)
class Activity:
    type: str
    title: str
    resource_type: str
    resource_id: UUID
    organization_id: UUID
    at: datetime


class DashboardReads:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._uow = uow

    async def alert_counts(self, scope: DashboardScope) -> Sequence[Row[Any]]:
        """(severity, status, alerts) summed over the scope: 12 rollup rows per org."""
        if scope.org_ids is None:
            query = text(
                "SELECT severity, status, sum(alerts)::bigint AS alerts "
                "FROM security.dashboard_all_counts GROUP BY severity, status"
            )
            return (await self._conn.execute(query)).all()
        query = _bound(
            f"SELECT severity, status, sum(alerts)::bigint AS alerts "  # noqa: S608
            f"FROM security.dashboard_alert_counts WHERE {_where(scope)} "
            f"GROUP BY severity, status"
        )
        return (await self._conn.execute(query, _params(scope))).all()

    async def first_seen_since(self, scope: DashboardScope, since: datetime) -> int:
        """Alerts first seen at or after `since`: whole hours from the rollup, the partial
        first hour counted exactly from a first_seen_at index."""
        hour = since.replace(minute=0, second=0, microsecond=0)
        next_hour = hour + timedelta(hours=1)
        if scope.org_ids is None:
            whole = text(
                "SELECT coalesce(sum(alerts), 0)::bigint FROM security.dashboard_all_hours "
                "WHERE stripe BETWEEN 0 AND 15 AND hour >= :next_hour"
            )
            partial = text(
                "SELECT count(*) FROM security.alerts "
                "WHERE first_seen_at >= :since AND first_seen_at < :next_hour"
            )
            params: dict[str, Any] = {"since": since, "next_hour": next_hour}
        else:
            whole = _bound(
                f"SELECT coalesce(sum(alerts), 0)::bigint "  # noqa: S608
                f"FROM security.dashboard_alert_hours "
                f"WHERE {_where(scope)} AND hour >= :next_hour"
            )
            partial = _bound(
                f"SELECT count(*) FROM security.alerts WHERE {_where(scope)} "  # noqa: S608
                f"AND first_seen_at >= :since AND first_seen_at < :next_hour"
            )
            params = _params(scope, since=since, next_hour=next_hour)
        total = int((await self._conn.execute(whole, params)).scalar_one())
        return total + int((await self._conn.execute(partial, params)).scalar_one())

    async def time_sums(self, scope: DashboardScope, since: date) -> TimeSums:
        table, where = (
            ("security.dashboard_all_days", "stripe BETWEEN 0 AND 15")
            if scope.org_ids is None
            else ("security.dashboard_alert_days", _where(scope))
        )
        query = _bound(
            f"SELECT coalesce(sum(acknowledged), 0)::bigint AS acknowledged, "  # noqa: S608
            f"coalesce(sum(ack_seconds), 0) AS ack_seconds, "
            f"coalesce(sum(resolved), 0)::bigint AS resolved, "
            f"coalesce(sum(resolve_seconds), 0) AS resolve_seconds "
            f"FROM {table} WHERE {where} AND day >= :since"
        )
        row = (await self._conn.execute(query, _params(scope, since=since))).one()
        return TimeSums(
            acknowledged=int(row.acknowledged),
            ack_seconds=float(row.ack_seconds),
            resolved=int(row.resolved),
            resolve_seconds=float(row.resolve_seconds),
        )

    async def intervention_counts(
        self, scope: DashboardScope, *, now: datetime, risk_window: timedelta
    ) -> Sequence[Row[Any]]:
        """(status, total, breached, at_risk) per status over the scope."""
        query = _bound(
            f"""
            SELECT status, count(*) AS total,
                   count(*) FILTER (WHERE open AND breached) AS breached,
                   count(*) FILTER (WHERE open AND NOT breached AND (
                       (responded_at IS NULL AND response_due_at < :risk_until)
                       OR resolution_due_at < :risk_until)) AS at_risk
            FROM (
                SELECT status, responded_at, response_due_at, resolution_due_at,
                       status NOT IN ('completed', 'cancelled') AS open,
                       response_breached OR resolution_breached
                           OR (responded_at IS NULL AND response_due_at < :now)
                           OR resolution_due_at < :now AS breached
                FROM security.interventions_view WHERE {_where(scope)}
            ) i
            GROUP BY status
            """  # noqa: S608
        )
        params = _params(scope, now=now, risk_until=now + risk_window)
        return (await self._conn.execute(query, params)).all()

    async def recent(self, scope: DashboardScope, limit: int) -> list[Activity]:
        """The newest alert and intervention activity, newest first."""
        alerts = _bound(
            f"SELECT id, org_id, title, status, last_seen_at FROM security.alerts "  # noqa: S608
            f"WHERE {_where(scope)} ORDER BY last_seen_at DESC, id DESC LIMIT :limit"
        )
        works = _bound(
            f"SELECT id, org_id, title, status, updated_at FROM security.interventions_view "  # noqa: S608
            f"WHERE {_where(scope)} ORDER BY updated_at DESC, id DESC LIMIT :limit"
        )
        found = [
            Activity(
                type=ALERT_ACTIVITY[row.status],
                title=row.title,
                resource_type="alert",
                resource_id=row.id,
                organization_id=row.org_id,
                at=row.last_seen_at,
            )
            for row in await self._conn.execute(alerts, _params(scope, limit=limit))
        ]
        found += [
            Activity(
                type=INTERVENTION_ACTIVITY.get(row.status, f"intervention.{row.status}"),
                title=row.title,
                resource_type="intervention",
                resource_id=row.id,
                organization_id=row.org_id,
                at=row.updated_at,
            )
            for row in await self._conn.execute(works, _params(scope, limit=limit))
        ]
        found.sort(key=lambda a: a.at, reverse=True)
        return found[:limit]

    async def customer_count(self) -> int:
        """Customer organizations in the caller's scope (an all-organizations scope)."""
        query = text("SELECT count(*) FROM security.org_directory WHERE type = 'customer'")
        return int((await self._conn.execute(query)).scalar_one())


# The event type that brought each state about (the newest step of the resource).
ALERT_ACTIVITY = {
    0: "security.alert.created",
    1: "security.alert.acknowledged",
    2: "security.alert.resolved",
}
INTERVENTION_ACTIVITY = {
    "requested": "intervention.requested",
    "approved": "intervention.approved",
    "scheduled": "intervention.scheduled",
    "in_progress": "intervention.started",
    "completed": "intervention.completed",
    "cancelled": "intervention.cancelled",
}
