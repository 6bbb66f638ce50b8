"""Create the database, one schema and two roles per service (owner and app), idempotently."""

from __future__ import annotations

import logging

import asyncpg
from sqlalchemy.engine import make_url

from mss_db.migrations import app_role, owner_role
from mss_settings import PlatformSettings, db_role_password

logger = logging.getLogger(__name__)


def _dsn(settings: PlatformSettings, database: str | None = None) -> str:
    url = make_url(settings.database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


# Substring search under RLS (NOTES.md: only leakproof operators can be index conditions, and
# ILIKE is not one). Only a superuser may declare a function LEAKPROOF or create an operator
# class, so provisioning does it once per database: `OPERATOR(mss_search.~~*)` is ILIKE
# (the same C function, texticlike, whose errors depend on the pattern alone, never on a
# row), and `mss_search.gin_trgm_ops` is pg_trgm's GIN operator class serving it. A service
# indexes `col mss_search.gin_trgm_ops` and filters `col OPERATOR(mss_search.~~*) pattern`;
# btree_gin lets that GIN index lead with `org_id` (an index condition on the tenant).
SEARCH_OPERATORS_SQL = """
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;
CREATE SCHEMA IF NOT EXISTS mss_search;
GRANT USAGE ON SCHEMA mss_search TO PUBLIC;
CREATE OR REPLACE FUNCTION mss_search.ilike(text, text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE AS 'texticlike';
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE n.nspname = 'mss_search' AND o.oprname = '~~*'
    ) THEN
        CREATE OPERATOR mss_search.~~* (
            LEFTARG = text, RIGHTARG = text, FUNCTION = mss_search.ilike,
            RESTRICT = iclikesel, JOIN = iclikejoinsel
        );
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
        WHERE n.nspname = 'mss_search' AND c.opcname = 'gin_trgm_ops'
    ) THEN
        CREATE OPERATOR CLASS mss_search.gin_trgm_ops FOR TYPE text USING gin AS
            OPERATOR 4 mss_search.~~* (text, text),
            FUNCTION 1 btint4cmp(integer, integer),
            FUNCTION 2 public.gin_extract_value_trgm(text, internal),
            FUNCTION 3 public.gin_extract_query_trgm(
                text, internal, smallint, internal, internal, internal, internal),
            FUNCTION 4 public.gin_trgm_consistent(
                internal, smallint, text, integer, internal, internal, internal, internal),
            FUNCTION 6 public.gin_trgm_triconsistent(
                internal, smallint, text, integer, internal, internal, internal),
            STORAGE int4;
    END IF;
END
$$;
"""


# Network containment under RLS, for the same reason: `inet >>= inet` (network_supeq) is not
# declared leakproof, so on a tenant table the planner would filter rows by the policy first
# and never use a GiST index. network_supeq only compares its two arguments and raises no
# error, so the wrapper `mss_search.>>=` may be LEAKPROOF; `mss_search.inet_ops` is the
# built-in GiST inet operator class serving it (strategy 27 is "contains or equals").
NETWORK_OPERATORS_SQL = """
CREATE SCHEMA IF NOT EXISTS mss_search;
GRANT USAGE ON SCHEMA mss_search TO PUBLIC;
CREATE OR REPLACE FUNCTION mss_search.inet_supeq(inet, inet) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE AS 'network_supeq';
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE n.nspname = 'mss_search' AND o.oprname = '>>='
    ) THEN
        CREATE OPERATOR mss_search.>>= (
            LEFTARG = inet, RIGHTARG = inet, FUNCTION = mss_search.inet_supeq
        );
    END IF;
    -- networksel knows only the built-in operators (by oid): the generic containment
    -- estimates instead.
    ALTER OPERATOR mss_search.>>= (inet, inet) SET (RESTRICT = contsel, JOIN = contjoinsel);
    IF NOT EXISTS (
        SELECT 1 FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
        WHERE n.nspname = 'mss_search' AND c.opcname = 'inet_ops'
    ) THEN
        CREATE OPERATOR CLASS mss_search.inet_ops FOR TYPE inet USING gist AS
            OPERATOR 27 mss_search.>>= (inet, inet),
            FUNCTION 1 inet_gist_consistent(internal, inet, smallint, oid, internal),
            FUNCTION 2 inet_gist_union(internal, internal),
            FUNCTION 3 inet_gist_compress(internal),
            FUNCTION 5 inet_gist_penalty(internal, internal, internal),
            FUNCTION 6 inet_gist_picksplit(internal, internal),
            FUNCTION 7 inet_gist_same(inet, inet, internal),
            FUNCTION 9 inet_gist_fetch(internal);
    END IF;
END
$$;
"""


async def ensure_search_operators(settings: PlatformSettings) -> None:
    """The leakproof ILIKE, `>>=` and their operator classes in the database (superuser)."""
    conn = await asyncpg.connect(_dsn(settings))
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('mss-provision'))")
            await conn.execute(SEARCH_OPERATORS_SQL)
            await conn.execute(NETWORK_OPERATORS_SQL)
    finally:
        await conn.close()


async def ensure_database(settings: PlatformSettings) -> None:
    """Create the database named by MSS_DATABASE_URL when it does not exist, with the
    search operators every schema may use, on a server that vacuums."""
    name = make_url(settings.database_url).database
    if not name:
        raise ValueError("MSS_DATABASE_URL names no database")
    conn = await asyncpg.connect(_dsn(settings, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
        await _ensure_autovacuum(conn)
    finally:
        await conn.close()
    await ensure_search_operators(settings)


async def _ensure_autovacuum(conn: asyncpg.Connection) -> None:
    """Autovacuum on: the platform's queues (outboxes, mails, webhook deliveries) and its
    rollup counters turn rows over all day, and the planner needs fresh statistics.

    The development and CI machines' PostgreSQL ships with it off (conf.d/90-ci.conf, see
    NOTES.md). Measured under `scripts/bench push`: the mail claim's partial index held
    207,916 dead entries for 3,120 pending mails, never analyzed, and each claim took
    253 ms; 18 ms once vacuumed. ALTER SYSTEM outranks conf.d, and a reload applies it.
    """
    if await conn.fetchval("SELECT current_setting('autovacuum')") == "on":
        return
    await conn.execute("ALTER SYSTEM SET autovacuum = on")
    await conn.execute("SELECT pg_reload_conf()")
    logger.warning("PostgreSQL had autovacuum off: turned on (ALTER SYSTEM)")


async def ensure_service_schema(settings: PlatformSettings, schema: str) -> None:
    """Schema `schema` owned by `<schema>_owner`; `<schema>_app` may log in and use it."""
    owner, app = owner_role(schema), app_role(schema)
    password = db_role_password(settings, app).get_secret_value()
    conn = await asyncpg.connect(_dsn(settings))
    try:
        async with conn.transaction():
            # Roles are cluster-wide; a lock keeps concurrent provisioning runs apart.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('mss-provision'))")
            for role, login in ((owner, False), (app, True)):
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
                if not exists:
                    await conn.execute(
                        f"CREATE ROLE {role} {'LOGIN' if login else 'NOLOGIN'} "
                        "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    )
            await conn.execute(f"ALTER ROLE {app} WITH LOGIN PASSWORD '{password}'")
            await conn.execute(f"GRANT {owner} TO CURRENT_USER")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}")
            await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {app}")
            await conn.execute(f"ALTER ROLE {app} SET search_path TO {schema}")
    finally:
        await conn.close()
