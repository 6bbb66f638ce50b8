"""Roles and the role → permission matrix (the seed's, plus the API.md extensions)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class OrganizationType(StrEnum):
    CUSTOMER = "customer"
    MSS_PROVIDER = "mss_provider"


class Role(StrEnum):
    # customer organization roles
    ADMIN = "admin"
    REPORT_VIEWER = "report_viewer"
    REQUEST_USER = "request_user"
    BASIC_USER = "basic_user"
    # provider organization roles
    SUPER_ADMIN = "super_admin"
    ACCOUNT_MANAGER = "account_manager"
    SECURITY_ANALYST = "security_analyst"
    TECHNICIAN = "technician"


CUSTOMER_ROLES: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.REPORT_VIEWER, Role.REQUEST_USER, Role.BASIC_USER}
)
PROVIDER_ROLES: frozenset[Role] = frozenset(
    {Role.SUPER_ADMIN, Role.ACCOUNT_MANAGER, Role.SECURITY_ANALYST, Role.TECHNICIAN}
)

# Provider roles that see every customer organization; technicians see only granted ones.
ALL_ORGS_ROLES: frozenset[Role] = frozenset(
    {Role.SUPER_ADMIN, Role.ACCOUNT_MANAGER, Role.SECURITY_ANALYST}
)

WILDCARD = "*:*"

# Granted to every authenticated user (API.md extensions): their own inbox, the dashboard
# (scoped as always), and the self-service routes (profile, password, MFA, sessions) which
# check "self" instead.
EVERY_USER: frozenset[str] = frozenset(
    {"notifications:read", "notifications:update", "dashboard:read"}
)

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "users:create",
            "users:read",
            "users:update",
            "users:delete",
            "reports:read",
            "alerts:read",
            "interventions:create",
            "interventions:read",
            "audit:read",  # extension: compliance reporting on its own org
            "billing:read",  # extension: its own organization's billable hours
            "webhooks:manage",  # extension: its own organization's webhooks
        }
    ),
    Role.REPORT_VIEWER: frozenset({"reports:read", "alerts:read"}),
    Role.REQUEST_USER: frozenset({"interventions:create", "interventions:read", "reports:read"}),
    Role.BASIC_USER: frozenset({"dashboard:read"}),
    Role.SUPER_ADMIN: frozenset({WILDCARD}),
    Role.ACCOUNT_MANAGER: frozenset(
        {
            "organizations:create",
            "organizations:read",
            "organizations:update",
            "users:create",
            "users:read",
            "users:update",
            "reports:read",
            "billing:read",  # extension
        }
    ),
    Role.SECURITY_ANALYST: frozenset(
        {
            "alerts:read",
            "alerts:update",
            "reports:create",
            "reports:read",
            "reports:update",
            "interventions:read",
            "interventions:assign",
            "threat_intel:read",  # extension
            "threat_intel:manage",  # extension
        }
    ),
    Role.TECHNICIAN: frozenset(
        {
            "interventions:read",
            "interventions:update",
            "customer_access:read",
            "remote_access:create",
        }
    ),
}


# Which roles each role may give (create, promote to, or manage). Nobody grants above
# themself: only a super admin creates super admins; a customer admin stays in customer roles.
GRANTABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.SUPER_ADMIN: frozenset(Role),
    Role.ACCOUNT_MANAGER: CUSTOMER_ROLES
    | {Role.ACCOUNT_MANAGER, Role.SECURITY_ANALYST, Role.TECHNICIAN},
    Role.ADMIN: CUSTOMER_ROLES,
}


def may_grant(actor: Role | None, role: Role) -> bool:
    """True when `actor` may give `role` to someone (API keys never grant roles)."""
    return actor is not None and role in GRANTABLE_ROLES.get(actor, frozenset())


# Permissions no role holds but an integration's API key may (API.md: a SIEM feeding one
# customer's alerts holds `alerts:create`).
INTEGRATION_PERMISSIONS: frozenset[str] = frozenset({"alerts:create"})

# Every concrete permission the matrix names, and the integrations' (the wildcard aside).
CONCRETE_PERMISSIONS: frozenset[str] = frozenset().union(
    *ROLE_PERMISSIONS.values(), INTEGRATION_PERMISSIONS
) - {WILDCARD}


def permissions_for(role: Role) -> frozenset[str]:
    """The full permission set of a role, extensions for every user included."""
    return ROLE_PERMISSIONS[role] | EVERY_USER


def has_permission(granted: Iterable[str], required: str) -> bool:
    """True when `required` ("resource:action") is in `granted`, directly or by wildcard."""
    resource, _, _action = required.partition(":")
    return any(permission in (required, WILDCARD, f"{resource}:*") for permission in granted)


def role_allowed_in(role: Role, org_type: OrganizationType) -> bool:
    """Customer roles exist only in customer orgs, provider roles only in the provider org."""
    if org_type is OrganizationType.MSS_PROVIDER:
        return role in PROVIDER_ROLES
    return role in CUSTOMER_ROLES


def api_key_permissions(org_type: OrganizationType) -> frozenset[str]:
    """What an API key of an organization of this type may hold: the concrete permissions
    some role of that type holds (the provider's super admin holds them all through `*:*`),
    plus INTEGRATION_PERMISSIONS. A customer's key never holds a provider-only permission."""
    held = frozenset().union(
        *(perms for role, perms in ROLE_PERMISSIONS.items() if role_allowed_in(role, org_type))
    )
    fitting = {p for p in CONCRETE_PERMISSIONS if has_permission(held, p)}
    return frozenset(fitting) | INTEGRATION_PERMISSIONS
