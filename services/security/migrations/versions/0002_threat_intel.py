"""threat intelligence: global and organization indicators, import jobs, retro-hunts

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from mss_db.migrations import enable_tenant_rls, grant, run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "security"

# The columns both indicator tables share. `net` is set for `cidr` indicators only: the
# GiST index on it answers containment; every other type is matched on `value` by btree.
_COLUMNS = """
    id uuid PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('ipv4', 'ipv6', 'cidr', 'domain', 'url', 'md5', 'sha1',
        'sha256', 'email', 'hostname', 'user')),
    value text NOT NULL CHECK (length(value) BETWEEN 1 AND 2048),
    net inet CHECK ((type = 'cidr') = (net IS NOT NULL)),
    confidence smallint NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    tlp text NOT NULL CHECK (tlp IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    labels jsonb NOT NULL DEFAULT '[]',
    source text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    valid_from timestamptz,
    valid_until timestamptz,
    stix_id text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
"""


def upgrade() -> None:
    # Provider-wide indicators (organizationId null) belong to no tenant: a table without
    # RLS, so every organization's ingest reads it. Organization-specific ones live in a
    # tenant table under the same policy as alerts, so they never leak to another org.
    # The `>>=` used for containment is the leakproof one of mss_db.provision: under RLS
    # only a leakproof operator may be an index condition.
    run_sql(
        f"""
        CREATE TABLE {S}.global_indicators ({_COLUMNS});
        CREATE UNIQUE INDEX global_indicators_key ON {S}.global_indicators (type, value);
        CREATE INDEX global_indicators_value_idx ON {S}.global_indicators (value);
        CREATE INDEX global_indicators_net_idx ON {S}.global_indicators
            USING gist (net mss_search.inet_ops);

        CREATE TABLE {S}.org_indicators (org_id uuid NOT NULL, {_COLUMNS});
        CREATE UNIQUE INDEX org_indicators_key ON {S}.org_indicators (org_id, type, value);
        CREATE INDEX org_indicators_value_idx ON {S}.org_indicators (org_id, value);
        CREATE INDEX org_indicators_net_idx ON {S}.org_indicators
            USING gist (net mss_search.inet_ops);

        -- An import is a job: the API stores the body, a worker parses it (never an API
        -- process). Provider staff only (threat_intel:*), and still under the tenant
        -- policy like every table with an org_id: a job for one organization is that
        -- tenant's row, a provider-wide one (org_id null) is seen by the all-orgs scope only.
        CREATE TABLE {S}.intel_imports (
            id uuid PRIMARY KEY,
            org_id uuid,
            content_type text NOT NULL CHECK (content_type IN ('stix', 'csv')),
            body bytea,
            status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running',
                'completed', 'failed')),
            total integer NOT NULL DEFAULT 0,
            created integer NOT NULL DEFAULT 0,
            updated integer NOT NULL DEFAULT 0,
            rejected integer NOT NULL DEFAULT 0,
            skipped integer NOT NULL DEFAULT 0,
            skipped_reasons jsonb NOT NULL DEFAULT '{{}}',
            errors jsonb NOT NULL DEFAULT '[]',
            requested_by uuid,
            lease_until timestamptz,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            started_at timestamptz,
            finished_at timestamptz
        );
        CREATE INDEX intel_imports_pending_idx ON {S}.intel_imports (created_at)
            WHERE status IN ('queued', 'running');

        -- Retro-hunts: new or changed indicators to match against recent unresolved
        -- alerts. `after` is the last alert id done, so a crashed worker's hunt resumes.
        CREATE TABLE {S}.intel_hunts (
            id uuid PRIMARY KEY,
            org_id uuid,
            indicator_ids uuid[] NOT NULL,
            after uuid,
            lease_until timestamptz,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            done_at timestamptz
        );
        CREATE INDEX intel_hunts_pending_idx ON {S}.intel_hunts (created_at)
            WHERE done_at IS NULL;
        -- The hunt walks unresolved alerts in id order.
        CREATE INDEX alerts_unresolved_id_idx ON {S}.alerts (id) WHERE status < 2;
        """
    )
    grant(S, "global_indicators", ["SELECT", "INSERT", "UPDATE", "DELETE"])
    enable_tenant_rls(S, "org_indicators")
    grant(S, "org_indicators", ["SELECT", "INSERT", "UPDATE", "DELETE"])
    for job_table in ("intel_imports", "intel_hunts"):
        enable_tenant_rls(S, job_table)
        grant(S, job_table, ["SELECT", "INSERT", "UPDATE"])


def downgrade() -> None:
    op.execute(f"DROP INDEX {S}.alerts_unresolved_id_idx")
    op.execute(
        f"DROP TABLE {S}.intel_hunts, {S}.intel_imports, {S}.org_indicators, {S}.global_indicators"
    )
