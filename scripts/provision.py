"""Provision and bootstrap the platform: `python scripts/provision.py setup [--no-bootstrap]`.

Idempotent: creates the database named by MSS_DATABASE_URL when missing, one schema and
two roles per service (owner and app), runs every Alembic migration as the owner,
makes sure identity has a signing key and the platform its service-token key, then creates
the provider organization and its first super admin.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

from alembic import command

from mss_db.migrations import alembic_config
from mss_db.provision import ensure_database, ensure_service_schema
from mss_settings import PlatformSettings, admin_database_url, registry, service_token_secret


def migrate(settings: PlatformSettings) -> None:
    """Every registered service, in the registry's order."""
    asyncio.run(ensure_database(settings))
    for spec in registry.services():
        asyncio.run(ensure_service_schema(settings, spec.schema))
        command.upgrade(alembic_config(spec.directory, admin_database_url(settings)), "head")
        print(f"  {spec.name}: schema, roles and migrations at head")


def _run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], check=True, capture_output=True, text=True, env=os.environ
    )
    return result.stdout.strip().splitlines()[-1]


def bootstrap() -> None:
    kid = _run("-m", "mss_identity", "keys")
    print(f"  identity: signing key {kid}")
    provider_id = _run("-m", "mss_organization", "bootstrap")
    name = os.environ.get("MSS_PROVIDER_NAME", "MSS Provider")
    admin_id = _run("-m", "mss_identity", "bootstrap", provider_id, name)
    print(f"  provider organization {provider_id}, super admin {admin_id}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["setup"])
    parser.add_argument("--no-bootstrap", action="store_true")
    args = parser.parse_args()
    settings = PlatformSettings()
    migrate(settings)
    # Before any service starts, so that every process of this host reads the same key.
    service_token_secret(settings)
    print("  service-token key in place")
    if not args.no_bootstrap:
        bootstrap()


if __name__ == "__main__":
    main()
