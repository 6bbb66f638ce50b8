"""Create the database, one schema and two roles per service (owner and app), idempotently."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from mss_db.migrations import app_role, owner_role
from mss_settings import PlatformSettings, db_role_password


def _dsn(settings: PlatformSettings, database: str | None = None) -> str:
    url = make_url(settings.database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def ensure_database(settings: PlatformSettings) -> None:
    """Create the database named by MSS_DATABASE_URL when it does not exist."""
    name = make_url(settings.database_url).database
    if not name:
        raise ValueError("MSS_DATABASE_URL names no database")
    conn = await asyncpg.connect(_dsn(settings, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


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
