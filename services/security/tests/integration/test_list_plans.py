"""Every list query shape, planned under the app role on a seeded table, has an index
condition on org_id: RLS alone would scan every tenant's alerts (NOTES.md)."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.ext.compiler import compiles

from mss_db import OrgScope
from mss_security.adapters.repository import AlertRepository
from mss_security.domain.alerts import AlertStatus, Category, Severity
from mss_security.domain.listing import AlertFilter, Cursor, Sort
from mss_service import ServiceRuntime

pytestmark = pytest.mark.integration

ORGS = 40
PER_ORG = 500


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <query>` with the query's own bound parameters."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _index_conditions(plan: dict[str, Any]) -> list[str]:
    found = [plan[k] for k in ("Index Cond", "Recheck Cond") if k in plan]
    for child in plan.get("Plans", []):
        found += _index_conditions(child)
    return found


@pytest.fixture
async def seeded(admin_db: asyncpg.Connection) -> list[uuid.UUID]:
    """Alerts of many organizations (as the superuser: a fixture, not the app's write)."""
    orgs = [uuid.uuid4() for _ in range(ORGS)]
    await admin_db.execute(
        """
        INSERT INTO security.alerts (id, org_id, title, severity, status, category, source,
            fingerprint, search_text, first_seen_at, last_seen_at)
        SELECT gen_random_uuid(), (CAST($1 AS uuid[]))[1 + g % $2], 'alert ' || g,
            1 + g % 4, g % 3, (ARRAY['malware', 'phishing', 'intrusion', 'other'])[1 + g % 4],
            'edr', md5(g::text), 'alert ' || g || ' host-' || md5(g::text),
            now() - g * interval '1 minute', now() - g * interval '1 minute'
        FROM generate_series(1, $3) g
        """,
        orgs,
        ORGS,
        ORGS * PER_ORG,
    )
    await admin_db.execute("ANALYZE security.alerts")
    return orgs


FILTERS: dict[str, AlertFilter] = {
    "none": AlertFilter(),
    "severity": AlertFilter(severities=frozenset({Severity.CRITICAL, Severity.HIGH})),
    "status": AlertFilter(statuses=frozenset({AlertStatus.OPEN})),
    "category": AlertFilter(categories=frozenset({Category.MALWARE})),
    "source": AlertFilter(source="edr"),
    "assigned": AlertFilter(assigned_to=uuid.uuid4()),
    "unassigned": AlertFilter(unassigned=True),
    "window": AlertFilter(
        seen_from=datetime.now(UTC) - timedelta(days=1), seen_to=datetime.now(UTC)
    ),
    "enriched": AlertFilter(enriched=True),
    "q": AlertFilter(q="host-abc"),
}


def _cursor(sort: Sort) -> Cursor:
    # Mid-way through the seeded alerts (one a minute): a page as deep as any.
    now = datetime.now(UTC) - timedelta(minutes=ORGS * PER_ORG // 2)
    keys: tuple[Any, ...] = (3, now) if sort is Sort.SEVERITY_DESC else (now,)
    return Cursor(sort=sort, keys=keys, id=uuid.uuid4())


async def test_every_list_shape_of_one_organization_uses_the_org_index(
    seeded: list[uuid.UUID], security_runtime: ServiceRuntime
) -> None:
    org = seeded[0]
    missing = []
    scopes = {
        "customer": (OrgScope.of([org]), lambda f: f),
        "analyst naming the org": (
            OrgScope.everything(),
            lambda f: replace(f, org_ids=frozenset([org])),
        ),
    }
    for (scope_name, (scope, narrow)), (filter_name, where), sort, paged in itertools.product(
        scopes.items(), FILTERS.items(), Sort, (False, True)
    ):
        async with security_runtime.uow(scope) as uow:
            query = AlertRepository(uow).list_query(
                narrow(where), sort=sort, cursor=_cursor(sort) if paged else None, limit=50
            )
            raw = (await uow.conn.execute(Explain(query))).scalar_one()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        if not any("org_id" in cond for cond in _index_conditions(plan)):
            missing.append(f"{scope_name} / {filter_name} / {sort.value} / paged={paged}")
    assert missing == [], "\n".join(missing)
