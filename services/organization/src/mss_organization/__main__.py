"""`python -m mss_organization api|worker|bootstrap`."""

from __future__ import annotations

import asyncio

from mss_organization import worker
from mss_organization.application.organizations import ensure_provider_organization
from mss_organization.config import SERVICE, OrganizationSettings
from mss_organization.main import build_runtime
from mss_service.cli import main


def bootstrap() -> None:
    """Create the provider organization once; print its id (scripts/provision.py reads it)."""

    async def main() -> None:
        runtime = build_runtime()
        try:
            org = await ensure_provider_organization(
                OrganizationSettings().provider_name, uow_factory=runtime.uow
            )
            # The relay of a running API or worker publishes organization.created.
            print(org.id)
        finally:
            await runtime.close()

    asyncio.run(main())


if __name__ == "__main__":
    main(
        SERVICE,
        settings=OrganizationSettings,
        worker=worker.run,
        commands={"bootstrap": bootstrap},
    )
