"""Every security route declares its permission from the matrix."""

from mss_contracts.permissions import CONCRETE_PERMISSIONS
from mss_security.main import create_app
from mss_testing.routes import route_permissions, undeclared

EXPECTED = {
    ("POST", "/api/alerts/items"): {"alerts:create"},
    ("GET", "/api/alerts/items"): {"alerts:read"},
}


def test_every_route_checks_a_permission_of_the_matrix() -> None:
    app = create_app()
    assert undeclared(app, public=set()) == []
    api = {route: checks for route, checks in route_permissions(app).items() if "/api/" in route[1]}
    assert api == EXPECTED
    assert set().union(*api.values()) <= CONCRETE_PERMISSIONS
