"""The security service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_contracts.internal import InterventionRecord, OrganizationRecord, UserRecord
from mss_security.adapters.directories import ORG_DIRECTORY, USER_DIRECTORY
from mss_security.adapters.interventions import INTERVENTIONS_VIEW
from mss_security.adapters.rendering import RENDERER
from mss_security.api.alerts import router as alerts_router
from mss_security.api.dashboard import router as dashboard_router
from mss_security.api.intel import router as intel_router
from mss_security.api.limits import IngestBodyLimit
from mss_security.api.reports import router as reports_router
from mss_security.application.directories import (
    record_fetched_organization,
    record_fetched_user,
)
from mss_security.application.interventions import record_fetched_intervention
from mss_security.config import SERVICE, SERVICE_DIR, SecuritySettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=SecuritySettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
    )
    # An assignee the user directory lacks (or holds as unassignable) is asked of identity:
    # an analyst created a moment ago can be assigned at once.
    runtime.project(
        USER_DIRECTORY,
        owner="identity",
        path="/internal/users/{id}",
        record=UserRecord,
        apply=record_fetched_user,
    )
    # Likewise an organization created a moment ago can receive alerts at once.
    runtime.project(
        ORG_DIRECTORY,
        owner="organization",
        path="/internal/organizations/{id}",
        record=OrganizationRecord,
        apply=record_fetched_organization,
    )
    # An intervention escalated a moment ago counts in a report drafted at once.
    runtime.project(
        INTERVENTIONS_VIEW,
        owner="intervention",
        path="/internal/interventions/{id}",
        record=InterventionRecord,
        apply=record_fetched_intervention,
    )
    return runtime


async def _started(runtime: ServiceRuntime, app: FastAPI) -> None:
    """The rendering process takes seconds to start (imports, fonts, a first layout): begun
    with the API, it is ready long before a first /publish (measured: 8 s cold, 1.7 s warm
    for the largest organization's monthly report)."""
    del runtime, app
    RENDERER.warm()


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    app = create_service_app(
        title="MSS security service",
        runtime_factory=runtime_factory,
        routers=[alerts_router, intel_router, reports_router, dashboard_router],
        run_relay=run_relay,
        extra_startup=_started,
    )
    app.add_middleware(IngestBodyLimit)
    return app
