"""the dashboard rollups without a queue: writer slots, static trigger SQL

Revision ID: 0005
Revises: 0004
"""

from pathlib import Path
from runpy import run_path

from alembic import op

from mss_db.migrations import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "security"

# Measured before this revision (one organization, 10 single-alert POSTs at a time): the
# upsert of one alert took 53 ms, nearly all of it waiting on `transactionid`. Every writer
# of an organization updated the same rollup rows, so they queued behind one another's
# commits (~125 alerts/s per organization at most). And one function served all three
# triggers with 12 dynamic statements, parsed and planned on every call: 3 ms of a lone
# insert, because INSERT … ON CONFLICT fires the UPDATE trigger too, with no rows.
#
# Now each rollup row also has a writer slot (the backend's pid & 15), so transactions on
# different connections add to different rows; readers already sum over the rows of a key.
# The all-organizations tables' stripe becomes the same slot. The trigger bodies are static
# SQL (plans cached per connection), an UPDATE passes on only the rows whose counted
# columns changed (a dedup bumps occurrence_count: nothing to count), and nothing runs when
# no row is left.
DELTA_TYPE = f"""
CREATE TYPE {S}.alert_rollup_delta AS (
    org_id uuid, severity smallint, status smallint, first_seen_at timestamptz,
    acknowledged_at timestamptz, resolved_at timestamptz, n integer
)
"""

APPLY_FUNCTION = f"""
CREATE FUNCTION {S}.alerts_rollup_apply(deltas {S}.alert_rollup_delta[]) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    writer_slot smallint := pg_backend_pid() & 15;
BEGIN
    -- Ordered by key so that writers sharing a slot lock rows in one order (no deadlock).
    INSERT INTO {S}.dashboard_alert_counts AS c (org_id, severity, status, slot, alerts)
    SELECT org_id, severity, status, writer_slot, sum(n) FROM unnest(deltas)
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (org_id, severity, status, slot) DO UPDATE SET alerts = c.alerts + EXCLUDED.alerts;

    INSERT INTO {S}.dashboard_alert_hours AS h (org_id, hour, slot, alerts)
    SELECT org_id, date_trunc('hour', first_seen_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           writer_slot, sum(n)
    FROM unnest(deltas)
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (org_id, hour, slot) DO UPDATE SET alerts = h.alerts + EXCLUDED.alerts;

    INSERT INTO {S}.dashboard_alert_days AS d
        (org_id, day, slot, acknowledged, ack_seconds, resolved, resolve_seconds)
    SELECT org_id, day, writer_slot, sum(ack_n), sum(ack_s), sum(res_n), sum(res_s) FROM (
        SELECT org_id, (acknowledged_at AT TIME ZONE 'UTC')::date AS day, n AS ack_n,
               n * extract(epoch FROM acknowledged_at - first_seen_at) AS ack_s,
               0 AS res_n, 0::numeric AS res_s
        FROM unnest(deltas) WHERE acknowledged_at IS NOT NULL
        UNION ALL
        SELECT org_id, (resolved_at AT TIME ZONE 'UTC')::date, 0, 0::numeric, n,
               n * extract(epoch FROM resolved_at - first_seen_at)
        FROM unnest(deltas) WHERE resolved_at IS NOT NULL
    ) t
    GROUP BY 1, 2 HAVING sum(ack_n) <> 0 OR sum(res_n) <> 0 OR sum(ack_s) <> 0
        OR sum(res_s) <> 0
    ORDER BY 1, 2
    ON CONFLICT (org_id, day, slot) DO UPDATE SET
        acknowledged = d.acknowledged + EXCLUDED.acknowledged,
        ack_seconds = d.ack_seconds + EXCLUDED.ack_seconds,
        resolved = d.resolved + EXCLUDED.resolved,
        resolve_seconds = d.resolve_seconds + EXCLUDED.resolve_seconds;

    INSERT INTO {S}.dashboard_all_counts AS c (stripe, severity, status, alerts)
    SELECT writer_slot, severity, status, sum(n) FROM unnest(deltas)
    GROUP BY 2, 3 HAVING sum(n) <> 0 ORDER BY 2, 3
    ON CONFLICT (stripe, severity, status) DO UPDATE SET alerts = c.alerts + EXCLUDED.alerts;

    INSERT INTO {S}.dashboard_all_hours AS h (stripe, hour, alerts)
    SELECT writer_slot, date_trunc('hour', first_seen_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           sum(n)
    FROM unnest(deltas)
    GROUP BY 2 HAVING sum(n) <> 0 ORDER BY 2
    ON CONFLICT (stripe, hour) DO UPDATE SET alerts = h.alerts + EXCLUDED.alerts;

    INSERT INTO {S}.dashboard_all_days AS d
        (stripe, day, acknowledged, ack_seconds, resolved, resolve_seconds)
    SELECT writer_slot, day, sum(acknowledged), sum(ack_seconds), sum(resolved), sum(resolve_seconds)
    FROM (
        SELECT (acknowledged_at AT TIME ZONE 'UTC')::date AS day, n AS acknowledged,
               n * extract(epoch FROM acknowledged_at - first_seen_at) AS ack_seconds,
               0 AS resolved, 0::numeric AS resolve_seconds
        FROM unnest(deltas) WHERE acknowledged_at IS NOT NULL
        UNION ALL
        SELECT (resolved_at AT TIME ZONE 'UTC')::date, 0, 0::numeric, n,
               n * extract(epoch FROM resolved_at - first_seen_at)
        FROM unnest(deltas) WHERE resolved_at IS NOT NULL
    ) t
    GROUP BY 2 HAVING sum(acknowledged) <> 0 OR sum(resolved) <> 0
        OR sum(ack_seconds) <> 0 OR sum(resolve_seconds) <> 0
    ORDER BY 2
    ON CONFLICT (stripe, day) DO UPDATE SET
        acknowledged = d.acknowledged + EXCLUDED.acknowledged,
        ack_seconds = d.ack_seconds + EXCLUDED.ack_seconds,
        resolved = d.resolved + EXCLUDED.resolved,
        resolve_seconds = d.resolve_seconds + EXCLUDED.resolve_seconds;
END
$fn$
"""

# One function per trigger, each reading only the transition tables its trigger has.
COUNTED = "org_id, severity, status, first_seen_at, acknowledged_at, resolved_at"
TRIGGER_FUNCTIONS = {
    "insert": f"ARRAY(SELECT ROW({COUNTED}, 1)::{S}.alert_rollup_delta FROM new_rows)",
    "delete": f"ARRAY(SELECT ROW({COUNTED}, -1)::{S}.alert_rollup_delta FROM old_rows)",
    "update": f"""ARRAY(
        SELECT d FROM new_rows n JOIN old_rows o USING (id),
            LATERAL (VALUES
                (ROW(n.org_id, n.severity, n.status, n.first_seen_at, n.acknowledged_at,
                     n.resolved_at, 1)::{S}.alert_rollup_delta),
                (ROW(o.org_id, o.severity, o.status, o.first_seen_at, o.acknowledged_at,
                     o.resolved_at, -1)::{S}.alert_rollup_delta)
            ) v(d)
        WHERE (n.org_id, n.severity, n.status, n.first_seen_at, n.acknowledged_at,
               n.resolved_at)
            IS DISTINCT FROM (o.org_id, o.severity, o.status, o.first_seen_at,
               o.acknowledged_at, o.resolved_at))""",
}


def _trigger_function(op_name: str, deltas: str) -> str:
    return f"""
CREATE FUNCTION {S}.alerts_rollup_{op_name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    deltas {S}.alert_rollup_delta[] := {deltas};
BEGIN
    IF cardinality(deltas) > 0 THEN
        PERFORM {S}.alerts_rollup_apply(deltas);
    END IF;
    RETURN NULL;
END
$fn$
"""


TRANSITIONS = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}

SLOTTED = {
    "dashboard_alert_counts": ("org_id, severity, status", "alerts"),
    "dashboard_alert_hours": ("org_id, hour", "alerts"),
    "dashboard_alert_days": (
        "org_id, day",
        "acknowledged, ack_seconds, resolved, resolve_seconds",
    ),
}


def _drop_triggers(function_of: dict[str, str]) -> None:
    for op_name in function_of:
        op.execute(f"DROP TRIGGER alerts_rollup_{op_name} ON {S}.alerts")
    for function in sorted(set(function_of.values())):
        op.execute(f"DROP FUNCTION {S}.{function}()")


def upgrade() -> None:
    _drop_triggers(dict.fromkeys(TRANSITIONS, "alerts_rollup"))
    for table, (key, _) in SLOTTED.items():
        run_sql(
            f"""
            ALTER TABLE {S}.{table} ADD COLUMN slot smallint NOT NULL DEFAULT 0;
            ALTER TABLE {S}.{table} DROP CONSTRAINT {table}_pkey;
            ALTER TABLE {S}.{table} ADD PRIMARY KEY ({key}, slot);
            """
        )
    op.execute(DELTA_TYPE)
    op.execute(APPLY_FUNCTION)
    for op_name, deltas in TRIGGER_FUNCTIONS.items():
        op.execute(_trigger_function(op_name, deltas))
        op.execute(
            f"CREATE TRIGGER alerts_rollup_{op_name} AFTER {op_name.upper()} ON {S}.alerts "
            f"REFERENCING {TRANSITIONS[op_name]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {S}.alerts_rollup_{op_name}()"
        )


def downgrade() -> None:
    _drop_triggers({op_name: f"alerts_rollup_{op_name}" for op_name in TRANSITIONS})
    # The slots are merged across every organization's rows (FORCE RLS binds the owner too).
    op.execute("SELECT set_config('app.all_orgs', 'on', true)")
    op.execute(f"DROP FUNCTION {S}.alerts_rollup_apply({S}.alert_rollup_delta[])")
    op.execute(f"DROP TYPE {S}.alert_rollup_delta")
    for table, (key, values) in SLOTTED.items():
        sums = ", ".join(f"sum({v}) AS {v}" for v in values.split(", "))
        run_sql(
            f"""
            CREATE TEMP TABLE merged ON COMMIT DROP AS
                SELECT {key}, {sums} FROM {S}.{table} GROUP BY {key};
            DELETE FROM {S}.{table};
            ALTER TABLE {S}.{table} DROP CONSTRAINT {table}_pkey;
            ALTER TABLE {S}.{table} DROP COLUMN slot;
            ALTER TABLE {S}.{table} ADD PRIMARY KEY ({key});
            INSERT INTO {S}.{table} ({key}, {values}) SELECT * FROM merged;
            DROP TABLE merged;
            """
        )
    # 0003's one function for the three triggers, as that revision wrote it.
    op.execute(
        run_path(str(Path(__file__).with_name("0003_reports_dashboard.py")))["ROLLUP_FUNCTION"]
    )
    for op_name, transitions in TRANSITIONS.items():
        op.execute(
            f"CREATE TRIGGER alerts_rollup_{op_name} AFTER {op_name.upper()} ON {S}.alerts "
            f"REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION {S}.alerts_rollup()"
        )
