"""The organization service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_contracts.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidStateTransition,
    NotFound,
    ValidationFailed,
)
from mss_organization.api.remote_access import router as remote_access_router
from mss_organization.api.routes import router
from mss_organization.api.technician_access import router as technician_access_router
from mss_organization.application.organizations import OrganizationNotFound
from mss_organization.application.remote_access import RemoteSessionNotFound
from mss_organization.application.technician_access import GrantNotFound
from mss_organization.config import SERVICE, SERVICE_DIR, OrganizationSettings
from mss_organization.domain.access import (
    GrantNotActive,
    InvalidGrant,
    RemoteAccessRefused,
    RemoteSessionNotActive,
)
from mss_organization.domain.organization import InvalidTransition, ProviderOrganizationProtected
from mss_service import ServiceRuntime, create_service_app
from mss_web.handlers import ErrorMapping, map_domain_errors


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
    app = create_service_app(
        title="MSS organization service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[router, technician_access_router, remote_access_router],
    )
    map_domain_errors(app, DOMAIN_ERRORS)
    return app


def _invalid_grant(exc: Exception) -> ApiError:
    assert isinstance(exc, InvalidGrant)
    return ValidationFailed("Validation failed", details=exc.problems)


def _refused(exc: Exception) -> ApiError:
    assert isinstance(exc, RemoteAccessRefused)
    return Forbidden(exc.message, details={"reason": "; ".join(exc.reasons) or exc.message})


DOMAIN_ERRORS: dict[type[Exception], ErrorMapping] = {
    OrganizationNotFound: NotFound,
    GrantNotFound: NotFound,
    RemoteSessionNotFound: NotFound,
    InvalidTransition: InvalidStateTransition,
    GrantNotActive: InvalidStateTransition,
    RemoteSessionNotActive: InvalidStateTransition,
    ProviderOrganizationProtected: Conflict,
    InvalidGrant: _invalid_grant,
    RemoteAccessRefused: _refused,
}
