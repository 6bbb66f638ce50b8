"""The notification service publishes no API route yet: nothing beyond health may be open."""

from mss_notification.main import create_app
from mss_testing.routes import route_permissions, undeclared


def test_no_route_is_left_without_a_permission() -> None:
    app = create_app()
    assert undeclared(app, public=set()) == []
    assert [route for route in route_permissions(app) if route[1].startswith("/api/")] == []
