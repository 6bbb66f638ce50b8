"""Every identity route checks the documented permission or is explicitly public (API.md)."""

from mss_identity.main import create_app
from mss_testing.routes import SERVICE_TOKEN, SIGNED_IN, route_permissions, undeclared

PUBLIC = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/token"),
    ("POST", "/api/auth/mfa/complete"),
    ("POST", "/api/auth/password/forgot"),
    ("POST", "/api/auth/password/reset"),
    ("POST", "/api/auth/email/verify"),
    ("GET", "/.well-known/jwks.json"),
}

EXPECTED = {
    ("GET", "/api/users"): {"users:read"},
    ("POST", "/api/users"): {"users:create"},
    ("GET", "/api/users/{id}"): {"users:read"},
    # Every user edits its own names (API.md); anything else needs users:update, which the
    # use case checks with the fields (integration: test_users_api).
    ("PUT", "/api/users/{id}"): {SIGNED_IN},
    ("DELETE", "/api/users/{id}"): {"users:delete"},
    ("POST", "/api/users/{id}/reset-password"): {"users:update"},
    ("POST", "/api/users/{id}/unlock"): {"users:update"},
    ("POST", "/api/users/{id}/revoke-sessions"): {"users:update"},
    ("GET", "/api/organizations/{id}/users"): {"users:read"},
    ("POST", "/api/organizations/{id}/users"): {"users:create"},
    ("POST", "/api/auth/logout"): {SIGNED_IN},
    ("GET", "/api/auth/me"): {SIGNED_IN},
    ("GET", "/api/auth/sessions"): {SIGNED_IN},
    ("DELETE", "/api/auth/sessions/{id}"): {SIGNED_IN},
    ("POST", "/api/auth/mfa/setup"): {SIGNED_IN},
    ("POST", "/api/auth/mfa/enable"): {SIGNED_IN},
    ("POST", "/api/auth/mfa/disable"): {SIGNED_IN},
    ("POST", "/api/auth/mfa/backup-codes"): {SIGNED_IN},
    ("POST", "/api/auth/password/change"): {SIGNED_IN},
    ("POST", "/api/auth/email/verification"): {SIGNED_IN},  # extension: resend the link
    ("GET", "/api/api-keys"): {"api_keys:manage"},
    ("POST", "/api/api-keys"): {"api_keys:manage"},
    ("DELETE", "/api/api-keys/{id}"): {"api_keys:manage"},
    # Internal read for other services' projections: a service token, nothing else.
    ("GET", "/internal/users/{id}"): {SERVICE_TOKEN},
}


def test_every_route_checks_a_permission_or_is_public() -> None:
    assert undeclared(create_app(), public=PUBLIC) == []


def test_public_routes_check_nothing() -> None:
    table = route_permissions(create_app())
    for route in PUBLIC & table.keys():
        assert table[route] == set(), route


def test_routes_check_the_documented_permission() -> None:
    table = route_permissions(create_app())
    for route, permissions in EXPECTED.items():
        assert table.get(route) == permissions, route
