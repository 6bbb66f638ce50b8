"""Alerts and their comments in PostgreSQL; every query runs inside a tenant-scoped unit of work."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    false,
    func,
    insert,
    select,
    tuple_,
    update,
)

from mss_db import UnitOfWork
from mss_db.engine import driver_connection
from mss_db.scope import in_scope
from mss_security.adapters.tables import AlertCommentRow, AlertRow
from mss_security.domain.alerts import (
    Alert,
    AlertStatus,
    Category,
    CommentVisibility,
    Observable,
    ObservableType,
    Resolution,
    Severity,
    search_text_of,
)
from mss_security.domain.comments import Comment
from mss_security.domain.ingest import IngestGroup, StoredAlert, new_ids
from mss_security.domain.listing import AlertFilter, Cursor, Sort

# Core on the tables (the alert's `metadata` column is no attribute name SQLModel allows).
ALERTS = AlertRow.__table__
A = ALERTS.c
COMMENTS = AlertCommentRow.__table__
K = COMMENTS.c


def _to_alert(row: Row[Any] | SimpleNamespace) -> Alert:
    return Alert(
        id=row.id,
        org_id=row.org_id,
        title=row.title,
        description=row.description,
        severity=Severity.of_rank(row.severity),
        status=AlertStatus.of_code(row.status),
        category=Category(row.category),
        source=row.source,
        source_ref=row.source_ref,
        fingerprint=row.fingerprint,
        affected_assets=tuple(row.affected_assets),
        observables=tuple(
            Observable(type=ObservableType.of_value(o["type"]), value=o["value"])
            for o in row.observables
        ),
        metadata=dict(row.metadata),
        assigned_to=row.assigned_to,
        occurrence_count=row.occurrence_count,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=Resolution(row.resolution) if row.resolution else None,
        resolution_note=row.resolution_note,
        previous_alert_id=row.previous_alert_id,
        enrichment=dict(row.enrichment),
        intervention_id=row.intervention_id,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _observables(observables: tuple[Observable, ...]) -> list[dict[str, str]]:
    return [{"type": o.type.value, "value": o.value} for o in observables]


def _mutable_columns(alert: Alert) -> dict[str, Any]:
    """What a workflow step or a PATCH may change (never the dedup key or the counters)."""
    return {
        "title": alert.title,
        "description": alert.description,
        "severity": alert.severity.rank,
        "status": alert.status.code,
        "category": alert.category.value,
        "metadata": alert.metadata,
        "search_text": search_text_of(
            title=alert.title,
            description=alert.description,
            assets=alert.affected_assets,
            observables=alert.observables,
        ),
        "assigned_to": alert.assigned_to,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": alert.resolved_at,
        "resolved_by": alert.resolved_by,
        "resolution": alert.resolution.value if alert.resolution else None,
        "resolution_note": alert.resolution_note,
        "intervention_id": alert.intervention_id,
        "version": alert.version,
        "updated_at": alert.updated_at,
    }


# The whole ingest request in one statement: one row per dedup key (the request is folded
# first, keys sorted), inserted in that order; a key with an unresolved alert adds its
# occurrences to it instead. Row locks of the conflict targets are taken in key order, so
# concurrent requests wait for each other instead of deadlocking, and `occurrence_count`
# adds up exactly. A new alert whose key has a resolved predecessor names the newest one.
# `xmax = 0` tells an inserted row from an updated one.
_UPSERT = """
    WITH incoming AS (
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:org_ids AS uuid[]), CAST(:titles AS text[]),
            CAST(:descriptions AS text[]), CAST(:severities AS smallint[]),
            CAST(:categories AS text[]), CAST(:sources AS text[]), CAST(:source_refs AS text[]),
            CAST(:fingerprints AS text[]), CAST(:assets AS text[]), CAST(:observables AS text[]),
            CAST(:metadata AS text[]), CAST(:search_texts AS text[]), CAST(:counts AS int[]),
            CAST(:first_seen AS timestamptz[]), CAST(:last_seen AS timestamptz[]),
            CAST(:enrichments AS text[])
        ) WITH ORDINALITY AS i(id, org_id, title, description, severity, category, source,
            source_ref, fingerprint, assets, observables, metadata, search_text, count,
            first_seen_at, last_seen_at, enrichment, ord)
    )
    INSERT INTO security.alerts AS a (
        id, org_id, title, description, severity, status, category, source, source_ref,
        fingerprint, affected_assets, observables, metadata, search_text, occurrence_count,
        first_seen_at, last_seen_at, previous_alert_id, enrichment, created_at, updated_at
    )
    SELECT i.id, i.org_id, i.title, i.description, i.severity, 0, i.category, i.source,
        i.source_ref, i.fingerprint, CAST(i.assets AS jsonb), CAST(i.observables AS jsonb),
        CAST(i.metadata AS jsonb), i.search_text, i.count, i.first_seen_at, i.last_seen_at,
        (SELECT p.id FROM security.alerts p
          WHERE p.org_id = i.org_id AND p.source = i.source AND p.fingerprint = i.fingerprint
            AND p.status = 2
          ORDER BY p.created_at DESC LIMIT 1),
        CAST(i.enrichment AS jsonb), :now, :now
    FROM incoming i
    ORDER BY i.ord
    ON CONFLICT (org_id, source, fingerprint) WHERE status < 2 DO UPDATE SET
        occurrence_count = a.occurrence_count + EXCLUDED.occurrence_count,
        last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),
        version = a.version + 1,
        updated_at = EXCLUDED.updated_at
    RETURNING {returning}, (a.xmax = 0) AS inserted
"""
# The statement's parameters, in their order ($1, $2, ...): it runs on the driver itself.
_UPSERT_PARAMS = (
    "ids",
    "org_ids",
    "titles",
    "descriptions",
    "severities",
    "categories",
    "sources",
    "source_refs",
    "fingerprints",
    "assets",
    "observables",
    "metadata",
    "search_texts",
    "counts",
    "first_seen",
    "last_seen",
    "enrichments",
    "now",
)


def _positional(statement: str) -> str:
    return re.sub(r":(\w+)", lambda m: f"${_UPSERT_PARAMS.index(m.group(1)) + 1}", statement)


# What a batch answers and its events need (no JSON column to decode), or the whole alert
# (the single-alert route answers with it).
_STORED_COLUMNS = (
    "id",
    "org_id",
    "version",
    "title",
    "severity",
    "status",
    "category",
    "source",
    "fingerprint",
    "assigned_to",
    "occurrence_count",
    "first_seen_at",
    "last_seen_at",
    "resolution",
    "intervention_id",
    "previous_alert_id",
)
_UPSERT_STORED = _positional(_UPSERT.format(returning=", ".join(f"a.{c}" for c in _STORED_COLUMNS)))
_UPSERT_FULL = _positional(_UPSERT.format(returning="a.*"))


@dataclass(frozen=True, slots=True)
class Upserted:
    group: IngestGroup
    stored: StoredAlert
    created: bool
    alert: Alert | None  # only when the whole alert was asked for


def _to_stored(row: Any) -> StoredAlert:
    """From the driver's record (item access: no SQLAlchemy row built per alert)."""
    resolution = row["resolution"]
    return StoredAlert(
        id=row["id"],
        org_id=row["org_id"],
        version=row["version"],
        title=row["title"],
        severity=Severity.of_rank(row["severity"]),
        status=AlertStatus.of_code(row["status"]),
        category=Category(row["category"]),
        source=row["source"],
        fingerprint=row["fingerprint"],
        assigned_to=row["assigned_to"],
        occurrence_count=row["occurrence_count"],
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        resolution=Resolution(resolution) if resolution else None,
        intervention_id=row["intervention_id"],
        previous_alert_id=row["previous_alert_id"],
    )


# Per sort: the keyset columns (before the id) and the ORDER BY, each served by its index.
_ORDER: dict[Sort, tuple[list[Any], list[Any]]] = {
    Sort.LAST_SEEN_DESC: ([A.last_seen_at], [A.last_seen_at.desc(), A.id.desc()]),
    Sort.LAST_SEEN_ASC: ([A.last_seen_at], [A.last_seen_at.asc(), A.id.asc()]),
    Sort.FIRST_SEEN_DESC: ([A.first_seen_at], [A.first_seen_at.desc(), A.id.desc()]),
    Sort.FIRST_SEEN_ASC: ([A.first_seen_at], [A.first_seen_at.asc(), A.id.asc()]),
    Sort.SEVERITY_DESC: (
        [A.severity, A.last_seen_at],
        [A.severity.desc(), A.last_seen_at.desc(), A.id.desc()],
    ),
}


class AlertRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._scope = uow.scope

    async def get(self, alert_id: UUID, *, for_update: bool = False) -> Alert | None:
        query = select(ALERTS).where(A.id == alert_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _to_alert(row) if row else None

    async def get_many(self, ids: list[UUID]) -> list[Alert]:
        """For a bulk action: locked in id order (concurrent bulk actions never deadlock)."""
        query = select(ALERTS).where(A.id.in_(ids)).order_by(A.id).with_for_update()
        return [_to_alert(row) for row in (await self._conn.execute(query)).all()]

    async def save(self, alert: Alert) -> None:
        await self._conn.execute(
            update(ALERTS).where(A.id == alert.id).values(**_mutable_columns(alert))
        )

    async def unresolved_twin(self, alert: Alert) -> bool:
        """Whether another unresolved alert holds this alert's dedup key."""
        query = select(A.id).where(
            A.org_id == alert.org_id,
            A.source == alert.source,
            A.fingerprint == alert.fingerprint,
            A.status < AlertStatus.RESOLVED.code,
            A.id != alert.id,
        )
        return (await self._conn.execute(query.limit(1))).first() is not None

    async def upsert(
        self,
        groups: list[IngestGroup],
        *,
        now: datetime,
        enrichments: list[dict[str, Any]],
        whole: bool = False,
    ) -> list[Upserted]:
        """One statement for the whole (folded) request; results in the groups' order.

        `enrichments` (one per group) is what a new alert starts with; an existing alert
        keeps its own (the retro-hunt keeps it current). `whole`: each result carries the
        whole alert too (its JSON columns decoded), not only what the events need."""
        firsts = [g.first for g in groups]
        params = {
            "ids": new_ids(len(groups)),
            "org_ids": [i.org_id for i in firsts],
            "titles": [i.title for i in firsts],
            "descriptions": [i.description for i in firsts],
            "severities": [i.severity.rank for i in firsts],
            "categories": [i.category.value for i in firsts],
            "sources": [i.source for i in firsts],
            "source_refs": [i.source_ref for i in firsts],
            "fingerprints": [i.fingerprint for i in firsts],
            "assets": [json.dumps(list(i.affected_assets)) for i in firsts],
            "observables": [json.dumps(_observables(i.observables)) for i in firsts],
            "metadata": [json.dumps(i.metadata) for i in firsts],
            "search_texts": [
                search_text_of(
                    title=i.title,
                    description=i.description,
                    assets=i.affected_assets,
                    observables=i.observables,
                )
                for i in firsts
            ],
            "counts": [g.count for g in groups],
            "first_seen": [g.first_seen_at for g in groups],
            "last_seen": [g.last_seen_at for g in groups],
            "enrichments": [json.dumps(e) for e in enrichments],
            "now": now,
        }
        # On the driver, in the unit of work's transaction: SQLAlchemy's per-row result
        # processing (a Row per alert, attribute lookups) bought nothing here.
        rows = await driver_connection(self._conn).fetch(
            _UPSERT_FULL if whole else _UPSERT_STORED, *(params[name] for name in _UPSERT_PARAMS)
        )
        by_key = {(r["org_id"], r["source"], r["fingerprint"]): r for r in rows}
        results = []
        for group in groups:
            row = by_key[group.first.dedup_key]
            results.append(
                Upserted(
                    group=group,
                    stored=_to_stored(row),
                    created=row["inserted"],
                    alert=_to_alert(SimpleNamespace(**dict(row.items()))) if whole else None,
                )
            )
        return results

    def _conditions(self, where: AlertFilter) -> list[ColumnElement[bool]]:
        conditions = [in_scope(A.org_id, self._scope)]
        if where.org_ids is not None:
            # The caller's filter, within its scope (RLS keeps the rest out anyway).
            allowed = sorted(o for o in where.org_ids if self._scope.allows(o))
            conditions.append(A.org_id.in_(allowed) if allowed else false())
        if where.severities:
            conditions.append(A.severity.in_(sorted(s.rank for s in where.severities)))
        if where.statuses:
            conditions.append(A.status.in_(sorted(s.code for s in where.statuses)))
        if where.categories:
            conditions.append(A.category.in_(sorted(c.value for c in where.categories)))
        if where.source is not None:
            conditions.append(A.source == where.source)
        if where.assigned_to is not None:
            conditions.append(A.assigned_to == where.assigned_to)
        if where.unassigned:
            conditions.append(A.assigned_to.is_(None))
        if where.seen_from is not None:
            conditions.append(A.last_seen_at >= where.seen_from)
        if where.seen_to is not None:
            conditions.append(A.last_seen_at < where.seen_to)
        if where.enriched is not None:
            matched = A.enrichment["matched"].as_boolean()
            conditions.append(matched.is_(True) if where.enriched else matched.is_not(True))
        if where.q:
            # The leakproof ILIKE (mss_db.provision): its trigram index serves it under RLS.
            escaped = where.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(A.search_text.op("OPERATOR(mss_search.~~*)")(f"%{escaped}%"))
        return conditions

    def list_query(
        self, where: AlertFilter, *, sort: Sort, cursor: Cursor | None, limit: int
    ) -> Select[Any]:
        """One page's query (keyset), one row more than the page to tell if another follows."""
        conditions = self._conditions(where)
        keys, order = _ORDER[sort]
        if cursor is not None:
            # A row comparison: leakproof, so the keyset index serves it under RLS.
            position = tuple_(*keys, A.id)
            bound = tuple_(*cursor.keys, cursor.id)
            ascending = sort in (Sort.LAST_SEEN_ASC, Sort.FIRST_SEEN_ASC)
            conditions.append(position > bound if ascending else position < bound)
        return select(ALERTS).where(and_(*conditions)).order_by(*order).limit(limit + 1)

    async def page(
        self, where: AlertFilter, *, sort: Sort, cursor: Cursor | None, limit: int
    ) -> tuple[list[Alert], Cursor | None]:
        """One page, and the cursor of the next one (None at the end)."""
        query = self.list_query(where, sort=sort, cursor=cursor, limit=limit)
        rows = (await self._conn.execute(query)).all()
        alerts = [_to_alert(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return alerts, None
        last = alerts[-1]
        last_keys: tuple[Any, ...]
        if sort is Sort.SEVERITY_DESC:
            last_keys = (last.severity.rank, last.last_seen_at)
        elif sort in (Sort.FIRST_SEEN_DESC, Sort.FIRST_SEEN_ASC):
            last_keys = (last.first_seen_at,)
        else:
            last_keys = (last.last_seen_at,)
        return alerts, Cursor(sort=sort, keys=last_keys, id=last.id)

    async def count(self, where: AlertFilter, *, cap: int) -> int:
        """Matching alerts, counted up to `cap` + 1 at most (an exact total is bounded work)."""
        inner = select(A.id).where(*self._conditions(where)).limit(cap + 1).subquery()
        return int((await self._conn.execute(select(func.count()).select_from(inner))).scalar_one())

    # --- comments -------------------------------------------------------------------------

    async def add_comment(self, comment: Comment) -> None:
        await self._conn.execute(
            insert(COMMENTS).values(
                id=comment.id,
                org_id=comment.org_id,
                alert_id=comment.alert_id,
                author_id=comment.author_id,
                body=comment.body,
                visibility=comment.visibility.value,
                created_at=comment.created_at,
            )
        )

    async def comments(self, alert: Alert, *, customer_only: bool) -> list[Comment]:
        """Oldest first; customer users read only the comments meant for them."""
        query = select(COMMENTS).where(K.org_id == alert.org_id, K.alert_id == alert.id)
        if customer_only:
            query = query.where(K.visibility == CommentVisibility.CUSTOMER.value)
        query = query.order_by(K.created_at, K.id)
        return [
            Comment(
                id=row.id,
                org_id=row.org_id,
                alert_id=row.alert_id,
                author_id=row.author_id,
                body=row.body,
                visibility=CommentVisibility(row.visibility),
                created_at=row.created_at,
            )
            for row in (await self._conn.execute(query)).all()
        ]
