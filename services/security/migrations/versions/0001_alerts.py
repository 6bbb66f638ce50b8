"""alerts, their comments, the user and organization directories, outbox and inbox

Revision ID: 0001
Revises:
"""

from alembic import op

from mss_db.migrations import create_outbox_and_inbox, enable_tenant_rls, grant, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "security"


def upgrade() -> None:
    # Severity and status are smallint codes, category and the rest text: equality and range
    # on them are leakproof, so they may be index conditions under RLS (NOTES.md).
    # severity: 1 low .. 4 critical; status: 0 open, 1 acknowledged, 2 resolved.
    run_sql(
        f"""
        CREATE TABLE {S}.alerts (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            title varchar(255) NOT NULL,
            description text NOT NULL DEFAULT '',
            severity smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
            status smallint NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 2),
            category text NOT NULL CHECK (category IN ('malware', 'phishing', 'intrusion',
                'data_exfiltration', 'policy_violation', 'vulnerability', 'anomaly', 'other')),
            source varchar(100) NOT NULL,
            source_ref varchar(255),
            fingerprint varchar(255) NOT NULL,
            affected_assets jsonb NOT NULL DEFAULT '[]',
            observables jsonb NOT NULL DEFAULT '[]',
            metadata jsonb NOT NULL DEFAULT '{{}}',
            search_text text NOT NULL DEFAULT '',
            assigned_to uuid,
            occurrence_count integer NOT NULL DEFAULT 1 CHECK (occurrence_count >= 1),
            first_seen_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            acknowledged_at timestamptz,
            acknowledged_by uuid,
            resolved_at timestamptz,
            resolved_by uuid,
            resolution text CHECK (resolution IN ('true_positive', 'false_positive', 'benign',
                'duplicate')),
            resolution_note text,
            previous_alert_id uuid,
            enrichment jsonb NOT NULL DEFAULT '{{"matched": false, "indicators": []}}',
            intervention_id uuid,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        -- The dedup key among unresolved alerts: the ingest upsert's conflict target.
        CREATE UNIQUE INDEX alerts_dedup_key ON {S}.alerts (org_id, source, fingerprint)
            WHERE status < 2;
        -- A recurrence of a resolved alert names the last one (previousAlertId).
        CREATE INDEX alerts_org_fingerprint_idx ON {S}.alerts
            (org_id, source, fingerprint, created_at DESC);
        -- One keyset index per sort, org_id leading (a tenant's list never reads another's).
        CREATE INDEX alerts_org_last_seen_idx ON {S}.alerts (org_id, last_seen_at DESC, id DESC);
        CREATE INDEX alerts_org_first_seen_idx ON {S}.alerts (org_id, first_seen_at DESC, id DESC);
        CREATE INDEX alerts_org_severity_idx ON {S}.alerts
            (org_id, severity DESC, last_seen_at DESC, id DESC);
        CREATE INDEX alerts_org_status_idx ON {S}.alerts
            (org_id, status, last_seen_at DESC, id DESC);
        -- Provider analysts list every organization at once, newest first: no org to lead.
        CREATE INDEX alerts_last_seen_idx ON {S}.alerts (last_seen_at DESC, id DESC);
        -- q: the leakproof ILIKE's trigram index (mss_db.provision), usable under RLS, led
        -- by org_id (btree_gin) so that one organization's search is one index condition.
        CREATE INDEX alerts_search_idx ON {S}.alerts
            USING gin (org_id, search_text mss_search.gin_trgm_ops);

        CREATE TABLE {S}.alert_comments (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            alert_id uuid NOT NULL REFERENCES {S}.alerts (id),
            author_id uuid NOT NULL,
            body text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
            visibility text NOT NULL CHECK (visibility IN ('internal', 'customer')),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX alert_comments_alert_idx ON {S}.alert_comments
            (org_id, alert_id, created_at, id);

        -- Identity's users as assignment cares (user.* events, or fetched on a miss).
        CREATE TABLE {S}.user_directory (
            user_id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            role text,
            status text NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX user_directory_org_idx ON {S}.user_directory (org_id);

        -- The organization service's organizations as ingest cares (type, status, quota).
        CREATE TABLE {S}.org_directory (
            org_id uuid PRIMARY KEY,
            type text NOT NULL,
            status text NOT NULL,
            alert_quota_per_minute integer NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        """
    )
    enable_tenant_rls(S, "alerts")
    grant(S, "alerts", ["SELECT", "INSERT", "UPDATE"])
    enable_tenant_rls(S, "alert_comments")
    grant(S, "alert_comments", ["SELECT", "INSERT"])
    enable_tenant_rls(S, "user_directory")
    grant(S, "user_directory", ["SELECT", "INSERT", "UPDATE"])
    enable_tenant_rls(S, "org_directory")
    grant(S, "org_directory", ["SELECT", "INSERT", "UPDATE"])
    create_outbox_and_inbox(S)


def downgrade() -> None:
    op.execute(
        f"DROP TABLE {S}.inbox, {S}.outbox, {S}.org_directory, {S}.user_directory, "
        f"{S}.alert_comments, {S}.alerts"
    )
