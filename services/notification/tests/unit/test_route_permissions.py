"""Every notification route checks a permission: the inbox its own, webhooks webhooks:manage."""

from mss_notification.main import create_app
from mss_testing.routes import route_permissions, undeclared


def test_no_route_is_left_without_a_permission() -> None:
    app = create_app()
    assert undeclared(app, public=set()) == []


def test_each_route_checks_the_permission_api_md_names() -> None:
    table = {key: checks for key, checks in route_permissions(create_app()).items()}
    assert table[("GET", "/api/notifications")] == {"notifications:read"}
    assert table[("POST", "/api/notifications/{id}/read")] == {"notifications:update"}
    assert table[("POST", "/api/notifications/read-all")] == {"notifications:update"}
    assert table[("GET", "/api/notifications/preferences")] == {"notifications:read"}
    assert table[("PUT", "/api/notifications/preferences")] == {"notifications:update"}
    for key in (
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("DELETE", "/api/webhooks/{id}"),
        ("GET", "/api/webhooks/{id}/deliveries"),
        ("POST", "/api/webhooks/{id}/test"),
    ):
        assert table[key] == {"webhooks:manage"}, key
