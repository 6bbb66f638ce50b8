"""The organization service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_contracts.internal import UserRecord
from mss_organization.adapters.access import STAFF_DIRECTORY
from mss_organization.api.internal import router as internal_router
from mss_organization.api.remote_access import router as remote_access_router
from mss_organization.api.routes import router
from mss_organization.api.technician_access import router as technician_access_router
from mss_organization.application.staff import record_fetched_user
from mss_organization.config import SERVICE, SERVICE_DIR, OrganizationSettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=OrganizationSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
        # Technicians' org scope widens to the organizations whose grant admits them now.
        grants_table="technician_access",
    )
    # A grant naming a technician the staff directory lacks (or holds as not active) asks
    # identity first: a technician created a moment ago can be granted at once.
    runtime.project(
        STAFF_DIRECTORY,
        owner="identity",
        path="/internal/users/{id}",
        record=UserRecord,
        apply=record_fetched_user,
    )
    return runtime


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    return create_service_app(
        title="MSS organization service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[router, technician_access_router, remote_access_router, internal_router],
    )
