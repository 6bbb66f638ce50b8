"""Every organization route declares its permission from the matrix (API.md)."""

from mss_organization.main import create_app
from mss_testing.routes import route_permissions, undeclared

EXPECTED = {
    ("POST", "/api/organizations"): {"organizations:create"},
    ("GET", "/api/organizations"): {"organizations:read"},
    ("GET", "/api/organizations/{id}"): {"organizations:read"},
    ("PUT", "/api/organizations/{id}"): {"organizations:update"},
    ("POST", "/api/organizations/{id}/suspend"): {"organizations:update"},
    ("POST", "/api/organizations/{id}/reactivate"): {"organizations:update"},
    ("GET", "/api/organizations/{id}/settings"): {"organizations:read"},
    ("PUT", "/api/organizations/{id}/settings"): {"organizations:update"},
}


def test_every_route_checks_a_permission() -> None:
    assert undeclared(create_app(), public=set()) == []


def test_routes_check_the_documented_permission() -> None:
    table = route_permissions(create_app())
    for route, permissions in EXPECTED.items():
        assert table[route] == permissions, route
