"""Every organization route declares its permission from the matrix (API.md)."""

from mss_organization.main import create_app
from mss_testing.routes import SERVICE_TOKEN, route_permissions, undeclared

EXPECTED = {
    ("POST", "/api/organizations"): {"organizations:create"},
    ("GET", "/api/organizations"): {"organizations:read"},
    ("GET", "/api/organizations/{id}"): {"organizations:read"},
    ("PUT", "/api/organizations/{id}"): {"organizations:update"},
    ("POST", "/api/organizations/{id}/suspend"): {"organizations:update"},
    ("POST", "/api/organizations/{id}/reactivate"): {"organizations:update"},
    ("GET", "/api/organizations/{id}/settings"): {"organizations:read"},
    ("PUT", "/api/organizations/{id}/settings"): {"organizations:update"},
    ("POST", "/api/organizations/{id}/technician-access"): {"organizations:update"},
    ("GET", "/api/organizations/{id}/technician-access"): {"organizations:read"},
    ("GET", "/api/technician-access"): {"customer_access:read"},
    ("POST", "/api/technician-access/{id}/revoke"): {"organizations:update"},
    ("POST", "/api/remote-access-sessions"): {"remote_access:create"},
    ("GET", "/api/remote-access-sessions"): {"remote_access:create | audit:read"},
    ("POST", "/api/remote-access-sessions/{id}/end"): {"remote_access:create"},
    # Internal reads for other services' projections: a service token, nothing else.
    ("GET", "/internal/organizations/{id}"): {SERVICE_TOKEN},
    ("GET", "/internal/technicians/{id}/grants"): {SERVICE_TOKEN},
}


def test_every_route_checks_a_permission() -> None:
    assert undeclared(create_app(), public=set()) == []


def test_routes_check_the_documented_permission() -> None:
    table = route_permissions(create_app())
    for route, permissions in EXPECTED.items():
        assert table[route] == permissions, route


def test_no_route_goes_unlisted() -> None:
    listed = {
        key for key in route_permissions(create_app()) if key[1].startswith(("/api/", "/internal/"))
    }
    assert listed == set(EXPECTED)
