"""Indicators, import jobs and retro-hunts in PostgreSQL.

Provider-wide indicators live in `global_indicators` (no tenant), organization ones in the
RLS table `org_indicators`; every query names both explicitly so each uses its own index.
"""

# The SQL here is composed only of this module's constants (tables, column lists, fixed
# conditions); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Row, TextClause, select, text

from mss_db import UnitOfWork
from mss_security.adapters.repository import A
from mss_security.domain.alerts import Alert, AlertStatus
from mss_security.domain.indicators import (
    Indicator,
    IndicatorInput,
    IndicatorType,
    MatchKeys,
    Tlp,
)

_FIELDS = (
    "id, type, value, confidence, tlp, labels, source, description, valid_from, valid_until, "
    "stix_id, created_at, updated_at"
)


def _to_indicator(row: Row[Any]) -> Indicator:
    return Indicator(
        id=row.id,
        org_id=row.org_id,
        type=IndicatorType(row.type),
        value=row.value,
        confidence=row.confidence,
        tlp=Tlp(row.tlp),
        labels=tuple(row.labels),
        source=row.source,
        description=row.description,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        stix_id=row.stix_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _upsert_sql(org: bool) -> TextClause:
    """One statement per chunk of distinct keys; `xmax = 0` tells inserted from updated."""
    table = "security.org_indicators" if org else "security.global_indicators"
    org_column, org_value, key = (
        ("org_id, ", "CAST(:org_id AS uuid), ", "(org_id, type, value)")
        if org
        else ("", "", "(type, value)")
    )
    return text(
        f"""
        INSERT INTO {table} AS t ({org_column}id, type, value, net, confidence, tlp, labels,
            source, description, valid_from, valid_until, stix_id, created_at, updated_at)
        SELECT {org_value}i.id, i.type, i.value,
            CASE WHEN i.type = 'cidr' THEN CAST(i.value AS inet) END,
            i.confidence, i.tlp, CAST(i.labels AS jsonb), i.source, i.description,
            i.valid_from, i.valid_until, i.stix_id, :now, :now
        FROM unnest(
            CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:values AS text[]),
            CAST(:confidences AS smallint[]), CAST(:tlps AS text[]), CAST(:labels AS text[]),
            CAST(:sources AS text[]), CAST(:descriptions AS text[]),
            CAST(:valid_froms AS timestamptz[]), CAST(:valid_untils AS timestamptz[]),
            CAST(:stix_ids AS text[])
        ) AS i(id, type, value, confidence, tlp, labels, source, description, valid_from,
            valid_until, stix_id)
        ORDER BY i.type, i.value
        ON CONFLICT {key} DO UPDATE SET
            confidence = EXCLUDED.confidence, tlp = EXCLUDED.tlp, labels = EXCLUDED.labels,
            source = EXCLUDED.source, description = EXCLUDED.description,
            valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
            stix_id = EXCLUDED.stix_id, updated_at = EXCLUDED.updated_at
        RETURNING t.id, (t.xmax = 0) AS inserted
        """
    )


_UPSERT_GLOBAL = _upsert_sql(org=False)
_UPSERT_ORG = _upsert_sql(org=True)


def _match_sql() -> TextClause:
    """Every active indicator an ingest batch (or a hunt chunk) may match, in one statement:
    exact values by `= ANY` (btree) and containment of its addresses by GiST (`>>=`)."""
    active = "(x.valid_until IS NULL OR x.valid_until > :now)"
    fields = ", ".join(f"x.{f.strip()}" for f in _FIELDS.split(","))
    return text(
        f"""
        WITH addresses AS (
            SELECT DISTINCT CAST(a AS inet) AS address
            FROM unnest(CAST(:addresses AS text[])) AS a
        )
        SELECT x.value AS matched, CAST(NULL AS uuid) AS org_id, {fields}
            FROM security.global_indicators x
            WHERE x.value = ANY (CAST(:values AS text[])) AND x.type <> 'cidr' AND {active}
        UNION ALL
        SELECT host(addresses.address), CAST(NULL AS uuid), {fields} FROM addresses
            JOIN security.global_indicators x ON x.net OPERATOR(mss_search.>>=) addresses.address
            WHERE {active}
        UNION ALL
        SELECT x.value, x.org_id, {fields} FROM security.org_indicators x
            WHERE x.org_id = ANY (CAST(:org_ids AS uuid[]))
              AND x.value = ANY (CAST(:values AS text[])) AND x.type <> 'cidr' AND {active}
        UNION ALL
        SELECT host(addresses.address), x.org_id, {fields} FROM addresses
            JOIN security.org_indicators x ON x.net OPERATOR(mss_search.>>=) addresses.address
            WHERE x.org_id = ANY (CAST(:org_ids AS uuid[])) AND {active}
        """
    )


_MATCH = _match_sql()


@dataclass(frozen=True, slots=True)
class UpsertCount:
    created: int
    updated: int
    ids: list[UUID]


@dataclass(frozen=True, slots=True)
class IndicatorQuery:
    type: IndicatorType | None = None
    value: str | None = None
    q: str | None = None
    active: bool | None = None
    org_id: UUID | None = None
    global_only: bool = False


class IndicatorRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._scope = uow.scope

    async def upsert(
        self, org_id: UUID | None, items: list[IndicatorInput], *, now: datetime
    ) -> UpsertCount:
        """Distinct keys only (mss_security.domain.indicators.fold_inputs)."""
        if not items:
            return UpsertCount(0, 0, [])
        params: dict[str, Any] = {
            "ids": [uuid4() for _ in items],
            "types": [i.type.value for i in items],
            "values": [i.value for i in items],
            "confidences": [i.confidence for i in items],
            "tlps": [i.tlp.value for i in items],
            "labels": [json.dumps(list(i.labels)) for i in items],
            "sources": [i.source for i in items],
            "descriptions": [i.description for i in items],
            "valid_froms": [i.valid_from for i in items],
            "valid_untils": [i.valid_until for i in items],
            "stix_ids": [i.stix_id for i in items],
            "now": now,
        }
        if org_id is not None:
            params["org_id"] = org_id
        statement = _UPSERT_ORG if org_id is not None else _UPSERT_GLOBAL
        rows = (await self._conn.execute(statement, params)).all()
        created = sum(1 for r in rows if r.inserted)
        return UpsertCount(created=created, updated=len(rows) - created, ids=[r.id for r in rows])

    def _where(self, query: IndicatorQuery, now: datetime) -> tuple[str, dict[str, Any]]:
        conditions = ["TRUE"]
        params: dict[str, Any] = {}
        if query.type is not None:
            conditions.append("x.type = :type")
            params["type"] = query.type.value
        if query.value is not None:
            conditions.append("x.value = :value")
            params["value"] = query.value
        if query.q:
            conditions.append(
                "(strpos(lower(x.value), :q) > 0 OR strpos(lower(x.description), :q) > 0)"
            )
            params["q"] = query.q.lower()
        if query.active is not None:
            params["now"] = now
            live = "(x.valid_until IS NULL OR x.valid_until > :now)"
            conditions.append(live if query.active else f"NOT {live}")
        return " AND ".join(conditions), params

    async def page(
        self, query: IndicatorQuery, *, after: UUID | None, limit: int, now: datetime
    ) -> list[Indicator]:
        """Global and organization indicators together, in id order (keyset on id)."""
        where, params = self._where(query, now)
        if after is not None:
            where += " AND x.id > :after"
            params["after"] = after
        org_where = where
        if query.org_id is not None:
            org_where += " AND x.org_id = :org_id"
            params["org_id"] = query.org_id
        elif not self._scope.all_orgs:
            org_where += " AND x.org_id = ANY (CAST(:scope AS uuid[]))"
            params["scope"] = sorted(self._scope.org_ids)
        parts = []
        if query.org_id is None:
            parts.append(
                f"(SELECT CAST(NULL AS uuid) AS org_id, {_FIELDS} FROM security.global_indicators x"
                f" WHERE {where} ORDER BY x.id LIMIT :limit)"
            )
        if not query.global_only:
            parts.append(
                f"(SELECT x.org_id, {_FIELDS} FROM security.org_indicators x"
                f" WHERE {org_where} ORDER BY x.id LIMIT :limit)"
            )
        params["limit"] = limit
        sql = f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS page ORDER BY id LIMIT :limit"
        rows = (await self._conn.execute(text(sql), params)).all()
        return [_to_indicator(r) for r in rows]

    async def get(self, indicator_id: UUID) -> Indicator | None:
        sql = text(
            f"SELECT CAST(NULL AS uuid) AS org_id, {_FIELDS} FROM security.global_indicators"
            f" WHERE id = :id UNION ALL SELECT org_id, {_FIELDS} FROM security.org_indicators"
            " WHERE id = :id"
        )
        row = (await self._conn.execute(sql, {"id": indicator_id})).first()
        return _to_indicator(row) if row else None

    async def delete(self, indicator: Indicator) -> None:
        table = "org_indicators" if indicator.org_id else "global_indicators"
        await self._conn.execute(
            text(f"DELETE FROM security.{table} WHERE id = :id"), {"id": indicator.id}
        )

    async def matching(
        self,
        org_ids: set[UUID],
        keys: list[MatchKeys],
        *,
        now: datetime,
    ) -> list[tuple[str, Indicator]]:
        """Active indicators some of `keys` may match (one statement, whatever the batch),
        each with what it matched: the value, or the address a network contains."""
        values = sorted(set().union(*(k.values for k in keys))) if keys else []
        addresses = sorted(set().union(*(k.addresses for k in keys))) if keys else []
        if not values and not addresses:
            return []
        params: dict[str, Any] = {
            "values": values,
            "addresses": addresses,
            "org_ids": sorted(org_ids),
            "now": now,
        }
        rows = (await self._conn.execute(_MATCH, params)).all()
        return [(r.matched, _to_indicator(r)) for r in rows]

    async def by_ids(self, ids: list[UUID]) -> list[Indicator]:
        sql = text(
            f"SELECT CAST(NULL AS uuid) AS org_id, {_FIELDS} FROM security.global_indicators"
            f" WHERE id = ANY (CAST(:ids AS uuid[])) UNION ALL SELECT org_id, {_FIELDS}"
            " FROM security.org_indicators WHERE id = ANY (CAST(:ids AS uuid[]))"
        )
        return [_to_indicator(r) for r in (await self._conn.execute(sql, {"ids": ids})).all()]


# --- import jobs --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportJob:
    id: UUID
    org_id: UUID | None
    content_type: str
    status: str
    total: int
    created: int
    updated: int
    rejected: int
    skipped: int
    skipped_reasons: dict[str, int]
    errors: list[dict[str, Any]]
    requested_by: UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_JOB_FIELDS = (
    "id, org_id, content_type, status, total, created, updated, rejected, skipped, "
    "skipped_reasons, errors, requested_by, created_at, started_at, finished_at"
)


def _to_job(row: Row[Any]) -> ImportJob:
    return ImportJob(**{name: getattr(row, name) for name in ImportJob.__slots__})


@dataclass(slots=True)
class Progress:
    total: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    skipped: int = 0


class ImportRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(
        self, *, org_id: UUID | None, content_type: str, body: bytes, requested_by: UUID | None
    ) -> ImportJob:
        row = (
            await self._conn.execute(
                text(
                    "INSERT INTO security.intel_imports (id, org_id, content_type, body,"
                    " requested_by) VALUES (:id, :org_id, :content_type, :body, :requested_by)"
                    f" RETURNING {_JOB_FIELDS}"
                ),
                {
                    "id": uuid4(),
                    "org_id": org_id,
                    "content_type": content_type,
                    "body": body,
                    "requested_by": requested_by,
                },
            )
        ).one()
        return _to_job(row)

    async def get(self, job_id: UUID) -> ImportJob | None:
        row = (
            await self._conn.execute(
                text(f"SELECT {_JOB_FIELDS} FROM security.intel_imports WHERE id = :id"),
                {"id": job_id},
            )
        ).first()
        return _to_job(row) if row else None

    async def claim(self, *, now: datetime, lease_s: int) -> tuple[ImportJob, bytes] | None:
        """The oldest queued job (or a running one whose worker's lease ran out), leased to
        this worker; SKIP LOCKED lets worker replicas claim side by side."""
        row = (
            await self._conn.execute(
                text(
                    f"""
                    UPDATE security.intel_imports j SET status = 'running',
                        started_at = coalesce(j.started_at, :now),
                        lease_until = :now + make_interval(secs => :lease_s)
                    WHERE j.id = (
                        SELECT id FROM security.intel_imports
                        WHERE status = 'queued' OR (status = 'running' AND lease_until < :now)
                        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING j.body, {", ".join("j." + f.strip() for f in _JOB_FIELDS.split(","))}
                    """
                ),
                {"now": now, "lease_s": lease_s},
            )
        ).first()
        return (_to_job(row), bytes(row.body)) if row else None

    async def progress(
        self,
        job_id: UUID,
        counts: Progress,
        *,
        errors: list[dict[str, Any]],
        skipped_reasons: dict[str, int],
        lease_until: datetime,
    ) -> None:
        await self._conn.execute(
            text(
                "UPDATE security.intel_imports SET total = :total, created = :created,"
                " updated = :updated, rejected = :rejected, skipped = :skipped,"
                " errors = CAST(:errors AS jsonb), skipped_reasons = CAST(:reasons AS jsonb),"
                " lease_until = :lease_until WHERE id = :id"
            ),
            {
                "id": job_id,
                "total": counts.total,
                "created": counts.created,
                "updated": counts.updated,
                "rejected": counts.rejected,
                "skipped": counts.skipped,
                "errors": json.dumps(errors),
                "reasons": json.dumps(skipped_reasons),
                "lease_until": lease_until,
            },
        )

    async def finish(self, job_id: UUID, *, status: str, now: datetime) -> ImportJob:
        """Done: the body is dropped (the indicators hold what it said)."""
        row = (
            await self._conn.execute(
                text(
                    "UPDATE security.intel_imports SET status = :status, finished_at = :now,"
                    f" body = NULL, lease_until = NULL WHERE id = :id RETURNING {_JOB_FIELDS}"
                ),
                {"id": job_id, "status": status, "now": now},
            )
        ).one()
        return _to_job(row)

    async def fail(self, job_id: UUID, message: str, *, now: datetime) -> ImportJob:
        await self._conn.execute(
            text(
                "UPDATE security.intel_imports SET errors = errors || CAST(:error AS jsonb)"
                " WHERE id = :id"
            ),
            {"id": job_id, "error": json.dumps([{"position": None, "message": message}])},
        )
        return await self.finish(job_id, status="failed", now=now)


# --- retro-hunts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hunt:
    """One or more queued hunt rows walked together (their indicators united)."""

    ids: list[UUID]
    org_id: UUID | None
    indicator_ids: list[UUID]
    after: UUID | None


@dataclass(frozen=True, slots=True)
class HuntedAlert:
    id: UUID
    org_id: UUID
    observables: list[dict[str, str]]
    affected_assets: list[str]


# Hunts queued meanwhile are walked in one pass: a burst of small writes costs one walk.
HUNTS_PER_PASS = 100


class HuntRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(self, org_id: UUID | None, indicator_ids: list[UUID]) -> None:
        if not indicator_ids:
            return
        await self._conn.execute(
            text(
                "INSERT INTO security.intel_hunts (id, org_id, indicator_ids)"
                " VALUES (:id, :org_id, CAST(:ids AS uuid[]))"
            ),
            {"id": uuid4(), "org_id": org_id, "ids": indicator_ids},
        )

    async def claim(self, *, now: datetime, lease_s: int) -> Hunt | None:
        """The oldest unfinished hunts no live worker holds, leased for `lease_s` seconds."""
        rows = (
            await self._conn.execute(
                text(
                    """
                    UPDATE security.intel_hunts h
                    SET lease_until = :now + make_interval(secs => :lease_s)
                    WHERE h.id IN (
                        SELECT id FROM security.intel_hunts
                        WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until < :now)
                        ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED)
                    RETURNING h.id, h.org_id, h.indicator_ids, h.after
                    """
                ),
                {"now": now, "lease_s": lease_s, "limit": HUNTS_PER_PASS},
            )
        ).all()
        if not rows:
            return None
        orgs = {r.org_id for r in rows}
        afters = {r.after for r in rows}
        return Hunt(
            ids=[r.id for r in rows],
            org_id=orgs.pop() if len(orgs) == 1 else None,
            indicator_ids=sorted({i for r in rows for i in r.indicator_ids}),
            # Hunts resumed at different places start over together (harmless: the
            # enrichment is a union, an alert already holding it is left alone).
            after=afters.pop() if len(afters) == 1 else None,
        )

    async def advance(self, hunt: Hunt, after: UUID | None, *, done: bool, now: datetime) -> None:
        await self._conn.execute(
            text(
                "UPDATE security.intel_hunts SET after = :after,"
                " done_at = CASE WHEN :done THEN CAST(:now AS timestamptz) END,"
                " lease_until = CAST(:now AS timestamptz) + interval '60 seconds'"
                " WHERE id = ANY (CAST(:ids AS uuid[]))"
            ),
            {"ids": hunt.ids, "after": after, "done": done, "now": now},
        )

    async def unresolved_chunk(
        self, hunt: Hunt, after: UUID | None, *, since: datetime, size: int
    ) -> list[HuntedAlert]:
        """The next unresolved alerts seen since `since`, in id order: only what matching
        reads, and unlocked (the few that match are locked and read again)."""
        query = select(A.id, A.org_id, A.observables, A.affected_assets).where(
            A.status < AlertStatus.RESOLVED.code, A.last_seen_at >= since
        )
        if after is not None:
            query = query.where(A.id > after)
        if hunt.org_id is not None:
            query = query.where(A.org_id == hunt.org_id)
        query = query.order_by(A.id).limit(size)
        return [
            HuntedAlert(r.id, r.org_id, r.observables, r.affected_assets)
            for r in (await self._conn.execute(query)).all()
        ]

    async def save_enrichment(self, alerts: list[Alert], *, now: datetime) -> None:
        if not alerts:
            return
        await self._conn.execute(
            text(
                """
                UPDATE security.alerts a SET enrichment = CAST(u.enrichment AS jsonb),
                    version = u.version, updated_at = :now
                FROM unnest(CAST(:ids AS uuid[]), CAST(:enrichments AS text[]),
                    CAST(:versions AS int[])) AS u(id, enrichment, version)
                WHERE a.id = u.id
                """
            ),
            {
                "ids": [a.id for a in alerts],
                "enrichments": [json.dumps(a.enrichment) for a in alerts],
                "versions": [a.version for a in alerts],
                "now": now,
            },
        )
