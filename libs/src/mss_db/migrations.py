"""What every service's Alembic migrations share: the env runner and DDL building blocks.

Migrations run as the admin connection switched to `<service>_owner`, so every object
belongs to the schema owner while services connect as the non-owner `<service>_app`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from alembic import context, op
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mss_settings import PlatformSettings, admin_database_url


def owner_role(schema: str) -> str:
    return f"{schema}_owner"


def app_role(schema: str) -> str:
    return f"{schema}_app"


def run_env(schema: str) -> None:
    """The body of a service's migrations/env.py (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url") or admin_database_url(PlatformSettings())

    def migrate(connection: Connection) -> None:
        connection.execute(text(f"SET ROLE {owner_role(schema)}"))
        connection.execute(text(f"SET search_path TO {schema}"))
        context.configure(
            connection=connection,
            target_metadata=None,
            version_table_schema=schema,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()
            connection.execute(
                text(f"GRANT SELECT ON {schema}.alembic_version TO {app_role(schema)}")
            )

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


def alembic_config(service_dir: Path, database_url: str | None = None) -> Config:
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision(service_dir: Path) -> str | None:
    """The newest migration shipped with the service (what /ready expects to find)."""
    return ScriptDirectory.from_config(alembic_config(service_dir)).get_current_head()


# --- DDL building blocks used inside migrations -----------------------------------------


def split_statements(script: str) -> list[str]:
    """Split a SQL script on `;` outside `$$` bodies (asyncpg runs one statement at a time)."""
    statements: list[str] = []
    current: list[str] = []
    in_body = False
    for part in script.split("$$"):
        if in_body:
            current.append("$$" + part + "$$")
        else:
            pieces = part.split(";")
            current.append(pieces[0])
            for piece in pieces[1:]:
                statements.append("".join(current))
                current = [piece]
        in_body = not in_body
    statements.append("".join(current))
    return [statement.strip() for statement in statements if statement.strip()]


def run_sql(script: str) -> None:
    for statement in split_statements(script):
        op.execute(statement)


def create_outbox_and_inbox(schema: str) -> None:
    """The transactional outbox (events to publish) and inbox (events already applied)."""
    run_sql(
        f"""
        CREATE TABLE {schema}.outbox (
            id uuid PRIMARY KEY,
            event_type text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            attempts integer NOT NULL DEFAULT 0
        );
        CREATE INDEX outbox_created_at_idx ON {schema}.outbox (created_at);
        CREATE TABLE {schema}.inbox (
            event_id uuid PRIMARY KEY,
            event_type text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        """
    )
    grant(schema, "outbox", ["SELECT", "INSERT", "UPDATE", "DELETE"])
    grant(schema, "inbox", ["SELECT", "INSERT"])


def grant(schema: str, table: str, privileges: Iterable[str]) -> None:
    op.execute(f"GRANT {', '.join(privileges)} ON {schema}.{table} TO {app_role(schema)}")


def tenant_rls_sql(schema: str, table: str, column: str = "org_id") -> str:
    """ENABLE + FORCE RLS with the one tenant policy: no scope set → no rows."""
    return f"""
        ALTER TABLE {schema}.{table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {schema}.{table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {schema}.{table}
            USING (
                (SELECT current_setting('app.all_orgs', true)) = 'on'
                OR {column} = ANY (CAST((SELECT string_to_array(
                    NULLIF(current_setting('app.org_ids', true), ''), ',')) AS uuid[]))
            );
        """


def enable_tenant_rls(schema: str, table: str, column: str = "org_id") -> None:
    run_sql(tenant_rls_sql(schema, table, column))
