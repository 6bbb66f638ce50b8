"""The ingest lookup of indicators, planned under the app role on seeded tables, uses the
GiST index for containment and the btree for values, the tenant table included (RLS: only
leakproof operators may be index conditions, hence `mss_search.>>=`)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from mss_db import OrgScope
from mss_security.adapters import intel_repository
from mss_service import ServiceRuntime

pytestmark = pytest.mark.integration

ORGS = 20
ROWS = 20_000


def _index_names(plan: dict[str, Any]) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _index_names(child)
    return found


@pytest.fixture
async def seeded(admin_db: asyncpg.Connection) -> list[uuid.UUID]:
    """Networks and domains, provider-wide and per organization (as the superuser)."""
    orgs = [uuid.uuid4() for _ in range(ORGS)]
    await admin_db.execute(
        """
        INSERT INTO security.global_indicators (id, type, value, net, confidence, tlp)
        SELECT gen_random_uuid(), t.type, t.value, CASE WHEN t.type = 'cidr'
            THEN CAST(t.value AS inet) END, 50, 'amber'
        FROM generate_series(1, $1) g, LATERAL (SELECT
            CASE WHEN g % 10 = 0 THEN 'cidr' ELSE 'domain' END AS type,
            CASE WHEN g % 10 = 0 THEN '10.' || (g / 65536) % 256 || '.' || (g / 256) % 256
                || '.' || g % 256 || '/32' ELSE 'plan-' || md5(g::text) || '.example' END
                AS value) t
        ON CONFLICT DO NOTHING
        """,
        ROWS,
    )
    await admin_db.execute(
        """
        INSERT INTO security.org_indicators (org_id, id, type, value, net, confidence, tlp)
        SELECT (CAST($1 AS uuid[]))[1 + g % $2], gen_random_uuid(), t.type, t.value,
            CASE WHEN t.type = 'cidr' THEN CAST(t.value AS inet) END, 50, 'amber'
        FROM generate_series(1, $3) g, LATERAL (SELECT
            CASE WHEN g % 2 = 0 THEN 'cidr' ELSE 'domain' END AS type,
            CASE WHEN g % 2 = 0 THEN '172.' || 16 + (g / 65536) % 16 || '.' || (g / 256) % 256
                || '.' || g % 256 || '/32' ELSE 'org-' || md5(g::text) || '.example' END
                AS value) t
        ON CONFLICT DO NOTHING
        """,
        orgs,
        ORGS,
        ROWS,
    )
    await admin_db.execute("ANALYZE security.global_indicators")
    await admin_db.execute("ANALYZE security.org_indicators")
    return orgs


async def test_the_batch_lookup_uses_every_index_under_rls(
    seeded: list[uuid.UUID], security_runtime: ServiceRuntime
) -> None:
    org = seeded[0]
    params = {
        "values": [f"plan-{uuid.uuid4().hex}.example", "10.0.1.2"],
        "addresses": ["10.0.1.2", "172.16.3.4"],
        "org_ids": [org],
        "now": datetime.now(UTC),
    }
    # A customer's API key (one organization) and an analyst (every organization).
    for scope in (OrgScope.of([org]), OrgScope.everything()):
        async with security_runtime.uow(scope) as uow:
            explain = text("EXPLAIN (FORMAT JSON) " + intel_repository._MATCH.text)
            raw = (await uow.conn.execute(explain, params)).scalar_one()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        assert {
            "global_indicators_value_idx",
            "global_indicators_net_idx",
            "org_indicators_value_idx",
            "org_indicators_net_idx",
        } <= _index_names(plan), json.dumps(plan, indent=1)
