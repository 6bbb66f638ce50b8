"""Who is calling, with what permissions, over which organizations."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from mss_auth.tokens import AccessClaims
from mss_contracts.permissions import (
    ALL_ORGS_ROLES,
    OrganizationType,
    Role,
    has_permission,
    permissions_for,
)
from mss_db.scope import OrgScope


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UUID
    session_id: UUID
    org_id: UUID
    org_type: OrganizationType
    role: Role | None
    permissions: frozenset[str]
    mfa: bool
    scope: OrgScope
    mfa_enrollment_required: bool = False
    ip_address: str | None = None
    user_agent: str | None = None
    # A token exchanged from an API key: `user_id` is the key's id, no user account behind.
    api_key: bool = False

    def can(self, permission: str) -> bool:
        return has_permission(self.permissions, permission)

    @classmethod
    def from_claims(
        cls, claims: AccessClaims, *, ip_address: str | None, user_agent: str | None
    ) -> Principal:
        if claims.permissions is not None:
            # An API key's token: exactly the key's permissions, on its one organization.
            permissions = frozenset(claims.permissions)
        elif claims.role is not None:
            permissions = permissions_for(claims.role)
        else:
            permissions = frozenset()
        return cls(
            user_id=claims.sub,
            session_id=claims.sid,
            org_id=claims.org,
            org_type=claims.org_type,
            role=claims.role,
            permissions=permissions,
            mfa=bool({"mfa", "otp"} & set(claims.amr)),
            scope=scope_for(claims),
            mfa_enrollment_required=claims.mfa_enrollment_required,
            ip_address=ip_address,
            user_agent=user_agent,
            api_key=claims.permissions is not None,
        )


def scope_for(claims: AccessClaims) -> OrgScope:
    """Customer users: own org. Provider super admin/account manager/analyst: every org.

    Technicians see their own provider org here; grants widen it (technician access).
    """
    if (
        claims.permissions is None
        and claims.org_type is OrganizationType.MSS_PROVIDER
        and claims.role in ALL_ORGS_ROLES
    ):
        return OrgScope.everything()
    return OrgScope.of([claims.org])
