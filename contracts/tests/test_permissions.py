from mss_contracts.permissions import (
    CONCRETE_PERMISSIONS,
    CUSTOMER_ROLES,
    INTEGRATION_PERMISSIONS,
    PROVIDER_ROLES,
    WILDCARD,
    OrganizationType,
    Role,
    api_key_permissions,
    has_permission,
    permissions_for,
    role_allowed_in,
)


def test_super_admin_wildcard_grants_everything() -> None:
    assert has_permission(permissions_for(Role.SUPER_ADMIN), "organizations:create")
    assert has_permission(permissions_for(Role.SUPER_ADMIN), "audit:read")


def test_account_manager_can_create_organizations_but_not_read_audit() -> None:
    perms = permissions_for(Role.ACCOUNT_MANAGER)
    assert has_permission(perms, "organizations:create")
    assert not has_permission(perms, "audit:read")


def test_customer_admin_reads_audit_but_creates_no_organization() -> None:
    perms = permissions_for(Role.ADMIN)
    assert has_permission(perms, "audit:read")
    assert not has_permission(perms, "organizations:create")


def test_resource_wildcard_matches_only_its_resource() -> None:
    assert has_permission({"alerts:*"}, "alerts:update")
    assert not has_permission({"alerts:*"}, "reports:read")


def test_every_user_manages_own_notifications() -> None:
    for role in Role:
        assert has_permission(permissions_for(role), "notifications:read")


def test_roles_are_split_by_organization_type() -> None:
    assert CUSTOMER_ROLES.isdisjoint(PROVIDER_ROLES)
    assert role_allowed_in(Role.ADMIN, OrganizationType.CUSTOMER)
    assert not role_allowed_in(Role.ADMIN, OrganizationType.MSS_PROVIDER)
    assert role_allowed_in(Role.TECHNICIAN, OrganizationType.MSS_PROVIDER)
    assert not role_allowed_in(Role.TECHNICIAN, OrganizationType.CUSTOMER)


def test_nobody_grants_a_role_above_their_own() -> None:
    from mss_contracts.permissions import may_grant

    assert may_grant(Role.SUPER_ADMIN, Role.SUPER_ADMIN)
    assert may_grant(Role.ACCOUNT_MANAGER, Role.ADMIN)
    assert may_grant(Role.ACCOUNT_MANAGER, Role.TECHNICIAN)
    assert not may_grant(Role.ACCOUNT_MANAGER, Role.SUPER_ADMIN)
    assert may_grant(Role.ADMIN, Role.BASIC_USER)
    assert not may_grant(Role.ADMIN, Role.TECHNICIAN)
    assert not may_grant(Role.SECURITY_ANALYST, Role.BASIC_USER)
    assert not may_grant(None, Role.BASIC_USER)


def test_the_api_md_extensions_for_the_domain_resources() -> None:
    """API.md "Permission extensions for these resources"."""
    for role in Role:
        assert has_permission(permissions_for(role), "dashboard:read"), role
    analyst = permissions_for(Role.SECURITY_ANALYST)
    assert has_permission(analyst, "threat_intel:read")
    assert has_permission(analyst, "threat_intel:manage")
    assert has_permission(permissions_for(Role.ACCOUNT_MANAGER), "billing:read")
    admin = permissions_for(Role.ADMIN)
    assert has_permission(admin, "billing:read")
    assert has_permission(admin, "webhooks:manage")
    for role in (Role.REPORT_VIEWER, Role.REQUEST_USER, Role.BASIC_USER, Role.TECHNICIAN):
        assert not has_permission(permissions_for(role), "threat_intel:read"), role
        assert not has_permission(permissions_for(role), "webhooks:manage"), role
        assert not has_permission(permissions_for(role), "billing:read"), role


def test_a_customer_key_holds_customer_role_or_integration_permissions_only() -> None:
    allowed = api_key_permissions(OrganizationType.CUSTOMER)
    assert {"users:read", "audit:read", "alerts:read", "alerts:create"} <= allowed
    assert allowed.isdisjoint({"organizations:update", "alerts:update", "customer_access:read"})
    customer_held = frozenset().union(*(permissions_for(r) for r in CUSTOMER_ROLES))
    assert allowed == {p for p in allowed if p in customer_held} | INTEGRATION_PERMISSIONS


def test_a_provider_key_may_hold_any_concrete_permission_never_the_wildcard() -> None:
    allowed = api_key_permissions(OrganizationType.MSS_PROVIDER)
    assert allowed == CONCRETE_PERMISSIONS
    assert WILDCARD not in allowed
    assert {"organizations:update", "alerts:create", "users:read"} <= allowed
