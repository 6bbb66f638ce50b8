"""The intervention service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_contracts.internal import OrganizationRecord
from mss_intervention.adapters.repository import ORG_DIRECTORY
from mss_intervention.api.internal import router as internal_router
from mss_intervention.api.routes import router
from mss_intervention.application.directory import record_fetched_organization
from mss_intervention.config import SERVICE, SERVICE_DIR, InterventionSettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=InterventionSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
        # Technicians reach the organizations whose grant admits them now; assignments
        # and work check the same projection.
        grant_projection=True,
    )
    # An organization created a moment ago (its event still on its way) is asked of its owner.
    runtime.project(
        ORG_DIRECTORY,
        owner="organization",
        path="/internal/organizations/{id}",
        record=OrganizationRecord,
        apply=record_fetched_organization,
    )
    return runtime


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    return create_service_app(
        title="MSS intervention service",
        runtime_factory=runtime_factory,
        routers=[router, internal_router],
        run_relay=run_relay,
    )
