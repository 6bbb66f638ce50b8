"""Every audit route needs `audit:read` (API.md "Audit")."""

from mss_audit.main import create_app
from mss_testing.routes import route_permissions, undeclared


def test_every_route_checks_audit_read() -> None:
    app = create_app()
    assert undeclared(app, public=set()) == []
    api = {route: checks for route, checks in route_permissions(app).items() if "/api/" in route[1]}
    assert set(api) == {
        ("GET", "/api/audit/logs"),
        ("GET", "/api/audit/logs/export"),
        ("GET", "/api/audit/events"),
        ("GET", "/api/audit/verify"),
    }
    assert all(checks == {"audit:read"} for checks in api.values()), api
