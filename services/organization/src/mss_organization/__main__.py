"""`python -m mss_organization api|worker|bootstrap`."""

from __future__ import annotations

import asyncio

from mss_organization import worker
from mss_organization.application.organizations import ensure_provider_organization
from mss_organization.config import SERVICE, OrganizationSettings
from mss_organization.main import build_runtime
from mss_service.cli import dispatch, run_api, run_worker


def api() -> None:
    settings = OrganizationSettings()
    run_api(
        "mss_organization.main:create_app",
        service=SERVICE,
        port=settings.organization_port,
        settings=settings,
    )


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
    dispatch(
        SERVICE,
        {
            "api": api,
            "worker": lambda: run_worker(
                worker.run,
                service=SERVICE,
                settings=OrganizationSettings(),
                metrics_port=OrganizationSettings().organization_worker_metrics_port,
            ),
            "bootstrap": bootstrap,
        },
    )
