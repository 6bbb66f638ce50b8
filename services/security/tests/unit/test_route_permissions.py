"""Every security route declares its permission from the matrix (API.md "Alerts", "Threat
intelligence")."""

from mss_contracts.permissions import CONCRETE_PERMISSIONS
from mss_security.main import create_app
from mss_testing.routes import route_permissions, undeclared

EXPECTED = {
    ("POST", "/api/alerts"): {"alerts:create"},
    ("POST", "/api/alerts/batch"): {"alerts:create"},
    ("GET", "/api/alerts"): {"alerts:read"},
    ("GET", "/api/alerts/{id}"): {"alerts:read"},
    ("PATCH", "/api/alerts/{id}"): {"alerts:update"},
    ("POST", "/api/alerts/{id}/acknowledge"): {"alerts:update"},
    ("POST", "/api/alerts/{id}/assign"): {"alerts:update"},
    ("POST", "/api/alerts/{id}/resolve"): {"alerts:update"},
    ("POST", "/api/alerts/{id}/reopen"): {"alerts:update"},
    ("POST", "/api/alerts/{id}/escalate"): {"alerts:update"},
    ("GET", "/api/alerts/{id}/comments"): {"alerts:read"},
    ("POST", "/api/alerts/{id}/comments"): {"alerts:update"},
    ("POST", "/api/alerts/bulk"): {"alerts:update"},
    ("GET", "/api/threat-intel/indicators"): {"threat_intel:read"},
    ("POST", "/api/threat-intel/indicators"): {"threat_intel:manage"},
    ("DELETE", "/api/threat-intel/indicators/{id}"): {"threat_intel:manage"},
    ("POST", "/api/threat-intel/imports"): {"threat_intel:manage"},
    ("GET", "/api/threat-intel/imports/{id}"): {"threat_intel:read"},
    ("GET", "/api/reports"): {"reports:read"},
    ("POST", "/api/reports"): {"reports:create"},
    ("GET", "/api/reports/{id}"): {"reports:read"},
    ("PUT", "/api/reports/{id}"): {"reports:update"},
    ("POST", "/api/reports/{id}/submit"): {"reports:update"},
    ("POST", "/api/reports/{id}/approve"): {"reports:update"},
    ("POST", "/api/reports/{id}/reject"): {"reports:update"},
    ("POST", "/api/reports/{id}/publish"): {"reports:update"},
    ("GET", "/api/reports/{id}/download"): {"reports:read"},
    ("GET", "/api/dashboard"): {"dashboard:read"},
}


def test_every_route_checks_a_permission_of_the_matrix() -> None:
    app = create_app()
    assert undeclared(app, public=set()) == []
    api = {route: checks for route, checks in route_permissions(app).items() if "/api/" in route[1]}
    assert api == EXPECTED
    assert set().union(*api.values()) <= CONCRETE_PERMISSIONS
