"""The organization service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_organization.api.remote_access import router as remote_access_router
from mss_organization.api.routes import router
from mss_organization.api.technician_access import router as technician_access_router
from mss_organization.config import SERVICE, SERVICE_DIR, OrganizationSettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=OrganizationSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
        # Technicians' org scope widens to the organizations whose grant admits them now.
        grants_table="technician_access",
    )


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    return create_service_app(
        title="MSS organization service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[router, technician_access_router, remote_access_router],
    )
