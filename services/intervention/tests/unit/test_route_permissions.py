"""Every intervention route declares the permission API.md gives it."""

from mss_contracts.permissions import CONCRETE_PERMISSIONS
from mss_intervention.main import create_app
from mss_testing.routes import SERVICE_TOKEN, route_permissions, undeclared

P = "/api/interventions"
EXPECTED = {
    ("POST", P): {"interventions:create"},
    ("GET", P): {"interventions:read"},
    ("GET", f"{P}/billing"): {"billing:read"},
    ("GET", f"{P}/{{id}}"): {"interventions:read"},
    # Edit and cancel: the requesting organization's creators or the provider's assigners
    # (which of them may, from which status, is the workflow table's).
    ("PUT", f"{P}/{{id}}"): {"interventions:create | interventions:assign"},
    ("POST", f"{P}/{{id}}/cancel"): {"interventions:create | interventions:assign"},
    ("POST", f"{P}/{{id}}/approve"): {"interventions:assign"},
    ("POST", f"{P}/{{id}}/assign"): {"interventions:assign"},
    ("POST", f"{P}/{{id}}/schedule"): {"interventions:assign"},
    ("POST", f"{P}/{{id}}/start"): {"interventions:update"},
    ("POST", f"{P}/{{id}}/work-log"): {"interventions:update"},
    ("POST", f"{P}/{{id}}/complete"): {"interventions:update"},
}


def test_every_route_checks_a_permission_of_the_matrix() -> None:
    app = create_app()
    assert undeclared(app, public=set()) == []
    api = {route: checks for route, checks in route_permissions(app).items() if "/api/" in route[1]}
    assert api == EXPECTED
    named = {name for checks in api.values() for check in checks for name in check.split(" | ")}
    assert named <= CONCRETE_PERMISSIONS


def test_the_internal_read_takes_a_service_token_only() -> None:
    internal = {r: c for r, c in route_permissions(create_app()).items() if "/internal/" in r[1]}
    assert internal == {("GET", "/internal/interventions/{id}"): {SERVICE_TOKEN}}
