"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    alert, comment, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.alerts (id, org_id, title, severity, category, source, fingerprint, "
        "first_seen_at, last_seen_at) VALUES ($1, $2, 'rls test', 3, 'malware', 'edr', $3, "
        "now(), now())",
        alert,
        org,
        alert.hex,
    )
    await conn.execute(
        "INSERT INTO security.alert_comments (id, org_id, alert_id, author_id, body, visibility) "
        "VALUES ($1, $2, $3, $4, 'seen', 'internal')",
        comment,
        org,
        alert,
        user,
    )
    await conn.execute(
        "INSERT INTO security.user_directory (user_id, org_id, role, status, version) "
        "VALUES ($1, $2, 'security_analyst', 'active', 1)",
        user,
        org,
    )
    await conn.execute(
        "INSERT INTO security.org_directory (org_id, type, status, alert_quota_per_minute, "
        "version) VALUES ($1, 'customer', 'active', 6000, 1)",
        org,
    )
    indicator = uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.org_indicators (org_id, id, type, value, net, confidence, tlp) "
        "VALUES ($1, $2, 'cidr', '10.9.8.0/24', '10.9.8.0/24', 50, 'amber')",
        org,
        indicator,
    )
    job, hunt = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.intel_imports (id, org_id, content_type) VALUES ($1, $2, 'csv')",
        job,
        org,
    )
    await conn.execute(
        "INSERT INTO security.intel_hunts (id, org_id, indicator_ids) VALUES ($1, $2, $3)",
        hunt,
        org,
        [indicator],
    )
    # Acknowledged: the trigger then writes a row in every dashboard rollup of the tenant.
    acked = uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.alerts (id, org_id, title, severity, status, category, source, "
        "fingerprint, first_seen_at, last_seen_at, acknowledged_at) VALUES ($1, $2, 'rls ack', "
        "2, 1, 'other', 'edr', $3, now(), now(), now())",
        acked,
        org,
        acked.hex,
    )
    report, item = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO security.reports (id, org_id, title, type, status, generated_by, metrics, "
        "report_period_start, report_period_end) VALUES ($1, $2, 'rls', 'monthly', 'published', "
        "$3, '{}', '2026-01-01', '2026-01-31')",
        report,
        org,
        user,
    )
    await conn.execute(
        "INSERT INTO security.report_documents (report_id, org_id, content, content_sha256) "
        "VALUES ($1, $2, '\\x25504446', repeat('0', 64))",
        report,
        org,
    )
    await conn.execute(
        "INSERT INTO security.interventions_view (id, org_id, title, priority, status, type, "
        "response_due_at, resolution_due_at, requested_at, updated_at, version) VALUES ($1, $2, "
        "'rls', 'low', 'requested', 'other', now(), now(), now(), now(), 1)",
        item,
        org,
    )
    return {
        "reports": [report],
        "report_documents": [report],
        "interventions_view": [item],
        "dashboard_alert_counts": [org],
        "dashboard_alert_hours": [org],
        "dashboard_alert_days": [org],
        "alerts": [alert, acked],
        "org_indicators": [indicator],
        "intel_imports": [job],
        "intel_hunts": [hunt],
        "alert_comments": [comment],
        "user_directory": [user],
        "org_directory": [org],
    }


RLS = ServiceRls(
    tables=(
        TenantTable("alerts"),
        TenantTable("alert_comments"),
        TenantTable("user_directory", key="user_id"),
        TenantTable("org_directory", key="org_id"),
        TenantTable("org_indicators"),
        TenantTable("intel_imports"),
        TenantTable("intel_hunts"),
        TenantTable("reports"),
        TenantTable("report_documents", key="report_id"),
        TenantTable("interventions_view"),
        TenantTable("dashboard_alert_counts", key="org_id"),
        TenantTable("dashboard_alert_hours", key="org_id"),
        TenantTable("dashboard_alert_days", key="org_id"),
    ),
    seed=_seed,
    write_for_other=(
        "INSERT INTO security.alerts (id, org_id, title, severity, category, source, fingerprint, "
        "first_seen_at, last_seen_at) VALUES (gen_random_uuid(), $1, 'B2', 1, 'other', 's', 'f', "
        "now(), now())"
    ),
    update_of_tenant="UPDATE security.alerts SET title = title || '.' WHERE org_id = $1",
)
