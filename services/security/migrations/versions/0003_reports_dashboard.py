"""reports and their PDFs, the interventions read model, the dashboard rollups

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "security"

# One function serves every trigger: on INSERT only `new_rows` exists, on UPDATE the old
# rows' contributions are taken back and the new ones added, so any change of severity,
# status, first_seen_at or the ack/resolve times moves the rollups by exactly its delta.
ROLLUP_FUNCTION = f"""
CREATE FUNCTION {S}.alerts_rollup() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    delta text := 'SELECT org_id, severity, status, first_seen_at, acknowledged_at, '
        'resolved_at, 1 AS n FROM new_rows';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        delta := delta || ' UNION ALL SELECT org_id, severity, status, first_seen_at, '
            'acknowledged_at, resolved_at, -1 FROM old_rows';
    ELSIF TG_OP = 'DELETE' THEN
        -- Only the schema owner deletes alerts (a benchmark's clean-up): taken back too.
        delta := 'SELECT org_id, severity, status, first_seen_at, acknowledged_at, '
            'resolved_at, -1 AS n FROM old_rows';
    END IF;

    -- Ordered by key so that concurrent writers lock rollup rows in one order (no deadlock).
    EXECUTE format($q$
        INSERT INTO {S}.dashboard_alert_counts AS c (org_id, severity, status, alerts)
        SELECT org_id, severity, status, sum(n) FROM (%s) delta
        GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (org_id, severity, status) DO UPDATE SET alerts = c.alerts + EXCLUDED.alerts
    $q$, delta);

    EXECUTE format($q$
        INSERT INTO {S}.dashboard_alert_hours AS h (org_id, hour, alerts)
        SELECT org_id, date_trunc('hour', first_seen_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(n) FROM (%s) delta
        GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
        ON CONFLICT (org_id, hour) DO UPDATE SET alerts = h.alerts + EXCLUDED.alerts
    $q$, delta);

    EXECUTE format($q$
        INSERT INTO {S}.dashboard_alert_days AS d
            (org_id, day, acknowledged, ack_seconds, resolved, resolve_seconds)
        SELECT org_id, day, sum(ack_n), sum(ack_s), sum(res_n), sum(res_s) FROM (
            SELECT org_id, (acknowledged_at AT TIME ZONE 'UTC')::date AS day, n AS ack_n,
                   n * extract(epoch FROM acknowledged_at - first_seen_at) AS ack_s,
                   0 AS res_n, 0::numeric AS res_s
            FROM (%1$s) delta WHERE acknowledged_at IS NOT NULL
            UNION ALL
            SELECT org_id, (resolved_at AT TIME ZONE 'UTC')::date, 0, 0::numeric, n,
                   n * extract(epoch FROM resolved_at - first_seen_at)
            FROM (%1$s) delta WHERE resolved_at IS NOT NULL
        ) t
        GROUP BY 1, 2 HAVING sum(ack_n) <> 0 OR sum(res_n) <> 0 OR sum(ack_s) <> 0
            OR sum(res_s) <> 0
        ORDER BY 1, 2
        ON CONFLICT (org_id, day) DO UPDATE SET
            acknowledged = d.acknowledged + EXCLUDED.acknowledged,
            ack_seconds = d.ack_seconds + EXCLUDED.ack_seconds,
            resolved = d.resolved + EXCLUDED.resolved,
            resolve_seconds = d.resolve_seconds + EXCLUDED.resolve_seconds
    $q$, delta);
    -- The same deltas into the all-organizations rollups, striped by organization so that
    -- writers of different organizations rarely wait for one another's rows.
    EXECUTE format($q$
        INSERT INTO {S}.dashboard_all_counts AS c (stripe, severity, status, alerts)
        SELECT (hashtext(org_id::text) & 15), severity, status, sum(n) FROM (%s) delta
        GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (stripe, severity, status) DO UPDATE SET alerts = c.alerts + EXCLUDED.alerts
    $q$, delta);

    EXECUTE format($q$
        INSERT INTO {S}.dashboard_all_hours AS h (stripe, hour, alerts)
        SELECT (hashtext(org_id::text) & 15),
               date_trunc('hour', first_seen_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(n)
        FROM (%s) delta
        GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
        ON CONFLICT (stripe, hour) DO UPDATE SET alerts = h.alerts + EXCLUDED.alerts
    $q$, delta);

    EXECUTE format($q$
        INSERT INTO {S}.dashboard_all_days AS d
            (stripe, day, acknowledged, ack_seconds, resolved, resolve_seconds)
        SELECT (hashtext(org_id::text) & 15), day, sum(ack_n), sum(ack_s), sum(res_n),
               sum(res_s) FROM (
            SELECT org_id, (acknowledged_at AT TIME ZONE 'UTC')::date AS day, n AS ack_n,
                   n * extract(epoch FROM acknowledged_at - first_seen_at) AS ack_s,
                   0 AS res_n, 0::numeric AS res_s
            FROM (%1$s) delta WHERE acknowledged_at IS NOT NULL
            UNION ALL
            SELECT org_id, (resolved_at AT TIME ZONE 'UTC')::date, 0, 0::numeric, n,
                   n * extract(epoch FROM resolved_at - first_seen_at)
            FROM (%1$s) delta WHERE resolved_at IS NOT NULL
        ) t
        GROUP BY 1, 2 HAVING sum(ack_n) <> 0 OR sum(res_n) <> 0 OR sum(ack_s) <> 0
            OR sum(res_s) <> 0
        ORDER BY 1, 2
        ON CONFLICT (stripe, day) DO UPDATE SET
            acknowledged = d.acknowledged + EXCLUDED.acknowledged,
            ack_seconds = d.ack_seconds + EXCLUDED.ack_seconds,
            resolved = d.resolved + EXCLUDED.resolved,
            resolve_seconds = d.resolve_seconds + EXCLUDED.resolve_seconds
    $q$, delta);
    RETURN NULL;
END
$fn$;
"""


def upgrade() -> None:
    run_sql(
        f"""
        ALTER TABLE {S}.org_directory ADD COLUMN name text NOT NULL DEFAULT '';

        CREATE TABLE {S}.reports (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            title varchar(255) NOT NULL,
            type text NOT NULL CHECK (type IN ('monthly', 'quarterly', 'incident',
                'vulnerability', 'executive', 'custom')),
            status text NOT NULL CHECK (status IN ('draft', 'in_review', 'approved',
                'published')),
            generated_by uuid NOT NULL,
            scheduled boolean NOT NULL DEFAULT false,
            summary text NOT NULL DEFAULT '',
            findings jsonb NOT NULL DEFAULT '[]',
            metrics jsonb NOT NULL,
            report_period_start date NOT NULL,
            report_period_end date NOT NULL CHECK (report_period_end >= report_period_start),
            submitted_at timestamptz,
            approved_by uuid,
            approved_at timestamptz,
            published_at timestamptz,
            rejection_reason text,
            content_sha256 text CHECK (content_sha256 ~ '^[0-9a-f]{{64}}$'),
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX reports_org_created_idx ON {S}.reports (org_id, created_at DESC, id DESC);
        CREATE INDEX reports_created_idx ON {S}.reports (created_at DESC, id DESC);
        CREATE INDEX reports_scheduled_period_idx ON {S}.reports
            (type, report_period_start, report_period_end) WHERE scheduled;
        -- The worker's monthly drafts: one per organization, type and period, whichever
        -- replica or restart tries (its INSERT ... ON CONFLICT DO NOTHING).
        CREATE UNIQUE INDEX reports_scheduled_once ON {S}.reports
            (org_id, type, report_period_start, report_period_end) WHERE scheduled;

        -- The published PDF, written once at /publish (the app role may not change it).
        CREATE TABLE {S}.report_documents (
            report_id uuid PRIMARY KEY REFERENCES {S}.reports (id),
            org_id uuid NOT NULL,
            content bytea NOT NULL,
            content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{{64}}$'),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );

        -- The intervention service's interventions as reports and the dashboard count them.
        CREATE TABLE {S}.interventions_view (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            title text NOT NULL,
            priority text NOT NULL,
            status text NOT NULL,
            type text NOT NULL,
            actual_hours numeric NOT NULL DEFAULT 0,
            completed_at timestamptz,
            cancelled_at timestamptz,
            response_due_at timestamptz NOT NULL,
            resolution_due_at timestamptz NOT NULL,
            responded_at timestamptz,
            response_breached boolean NOT NULL DEFAULT false,
            resolution_breached boolean NOT NULL DEFAULT false,
            requested_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version integer NOT NULL
        );
        CREATE INDEX interventions_view_org_status_idx ON {S}.interventions_view
            (org_id, status);
        CREATE INDEX interventions_view_org_requested_idx ON {S}.interventions_view
            (org_id, requested_at);
        CREATE INDEX interventions_view_org_updated_idx ON {S}.interventions_view
            (org_id, updated_at DESC);

        -- Dashboard rollups, kept by the alerts' triggers in the writing transaction.
        CREATE TABLE {S}.dashboard_alert_counts (
            org_id uuid NOT NULL,
            severity smallint NOT NULL,
            status smallint NOT NULL,
            alerts bigint NOT NULL,
            PRIMARY KEY (org_id, severity, status)
        );
        CREATE TABLE {S}.dashboard_alert_hours (
            org_id uuid NOT NULL,
            hour timestamptz NOT NULL,
            alerts bigint NOT NULL,
            PRIMARY KEY (org_id, hour)
        );
        -- The same sums over every organization, for the all-organizations scope (provider
        -- staff). Not tenant rows (no organization's data, only totals), so no RLS, in 16
        -- stripes (by organization) so concurrent ingest rarely queues on one row.
        CREATE TABLE {S}.dashboard_all_counts (
            stripe smallint NOT NULL,
            severity smallint NOT NULL,
            status smallint NOT NULL,
            alerts bigint NOT NULL,
            PRIMARY KEY (stripe, severity, status)
        );
        CREATE TABLE {S}.dashboard_all_hours (
            stripe smallint NOT NULL,
            hour timestamptz NOT NULL,
            alerts bigint NOT NULL,
            PRIMARY KEY (stripe, hour)
        );
        CREATE TABLE {S}.dashboard_all_days (
            stripe smallint NOT NULL,
            day date NOT NULL,
            acknowledged bigint NOT NULL,
            ack_seconds numeric NOT NULL,
            resolved bigint NOT NULL,
            resolve_seconds numeric NOT NULL,
            PRIMARY KEY (stripe, day)
        );
        -- The exact first partial hour of `last24h` over every organization.
        CREATE INDEX alerts_first_seen_idx ON {S}.alerts (first_seen_at);
        CREATE TABLE {S}.dashboard_alert_days (
            org_id uuid NOT NULL,
            day date NOT NULL,
            acknowledged bigint NOT NULL,
            ack_seconds numeric NOT NULL,
            resolved bigint NOT NULL,
            resolve_seconds numeric NOT NULL,
            PRIMARY KEY (org_id, day)
        );
        """
    )
    op.execute(ROLLUP_FUNCTION)
    run_sql(
        f"""
        CREATE TRIGGER alerts_rollup_insert AFTER INSERT ON {S}.alerts
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
            EXECUTE FUNCTION {S}.alerts_rollup();
        CREATE TRIGGER alerts_rollup_update AFTER UPDATE ON {S}.alerts
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
            EXECUTE FUNCTION {S}.alerts_rollup();
        CREATE TRIGGER alerts_rollup_delete AFTER DELETE ON {S}.alerts
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
            EXECUTE FUNCTION {S}.alerts_rollup();

        -- The alerts stored before this migration, counted once.
        INSERT INTO {S}.dashboard_alert_counts (org_id, severity, status, alerts)
            SELECT org_id, severity, status, count(*) FROM {S}.alerts GROUP BY 1, 2, 3;
        INSERT INTO {S}.dashboard_alert_hours (org_id, hour, alerts)
            SELECT org_id, date_trunc('hour', first_seen_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*) FROM {S}.alerts
            GROUP BY 1, 2;
        INSERT INTO {S}.dashboard_alert_days
                (org_id, day, acknowledged, ack_seconds, resolved, resolve_seconds)
            SELECT org_id, day, sum(ack_n), sum(ack_s), sum(res_n), sum(res_s) FROM (
                SELECT org_id, (acknowledged_at AT TIME ZONE 'UTC')::date AS day, 1 AS ack_n,
                       extract(epoch FROM acknowledged_at - first_seen_at) AS ack_s,
                       0 AS res_n, 0::numeric AS res_s
                FROM {S}.alerts WHERE acknowledged_at IS NOT NULL
                UNION ALL
                SELECT org_id, (resolved_at AT TIME ZONE 'UTC')::date, 0, 0::numeric, 1,
                       extract(epoch FROM resolved_at - first_seen_at)
                FROM {S}.alerts WHERE resolved_at IS NOT NULL
            ) t GROUP BY 1, 2;
        INSERT INTO {S}.dashboard_all_counts (stripe, severity, status, alerts)
            SELECT (hashtext(org_id::text) & 15), severity, status, sum(alerts)
            FROM {S}.dashboard_alert_counts GROUP BY 1, 2, 3;
        INSERT INTO {S}.dashboard_all_hours (stripe, hour, alerts)
            SELECT (hashtext(org_id::text) & 15), hour, sum(alerts)
            FROM {S}.dashboard_alert_hours GROUP BY 1, 2;
        INSERT INTO {S}.dashboard_all_days
                (stripe, day, acknowledged, ack_seconds, resolved, resolve_seconds)
            SELECT (hashtext(org_id::text) & 15), day, sum(acknowledged), sum(ack_seconds),
                   sum(resolved), sum(resolve_seconds)
            FROM {S}.dashboard_alert_days GROUP BY 1, 2;
        """
    )
    for table in ("dashboard_all_counts", "dashboard_all_hours", "dashboard_all_days"):
        grant(S, table, ["SELECT", "INSERT", "UPDATE"])
    for table, privileges in {
        "reports": ["SELECT", "INSERT", "UPDATE"],
        "report_documents": ["SELECT", "INSERT"],
        "interventions_view": ["SELECT", "INSERT", "UPDATE"],
        "dashboard_alert_counts": ["SELECT", "INSERT", "UPDATE"],
        "dashboard_alert_hours": ["SELECT", "INSERT", "UPDATE"],
        "dashboard_alert_days": ["SELECT", "INSERT", "UPDATE"],
    }.items():
        enable_tenant_rls(S, table)
        grant(S, table, privileges)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER alerts_rollup_delete ON {S}.alerts")
    op.execute(f"DROP TRIGGER alerts_rollup_update ON {S}.alerts")
    op.execute(f"DROP TRIGGER alerts_rollup_insert ON {S}.alerts")
    op.execute(f"DROP FUNCTION {S}.alerts_rollup()")
    op.execute(f"DROP INDEX {S}.alerts_first_seen_idx")
    op.execute(
        f"DROP TABLE {S}.dashboard_all_days, {S}.dashboard_all_hours, {S}.dashboard_all_counts, "
        f"{S}.dashboard_alert_days, {S}.dashboard_alert_hours, "
        f"{S}.dashboard_alert_counts, {S}.interventions_view, {S}.report_documents, "
        f"{S}.reports"
    )
    op.execute(f"ALTER TABLE {S}.org_directory DROP COLUMN name")
