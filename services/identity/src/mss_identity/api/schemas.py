from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AliasChoices, Field, field_validator

from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.permissions import OrganizationType, Role
from mss_identity.domain.users import UserStatus


class LoginBody(ApiInput):
    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=1, max_length=128)
    organization_id: UUID | None = None


class UserRead(ApiModel):
    id: UUID
    # `UserRead.model_validate(user)` reads the domain's `org_id`.
    organization_id: UUID = Field(validation_alias=AliasChoices("org_id", "organization_id"))
    email: str
    first_name: str
    last_name: str
    role: Role
    status: UserStatus
    mfa_enabled: bool
    email_verified: bool
    last_login_at: datetime | None
    last_login_ip: str | None
    created_at: datetime
    updated_at: datetime


class TokenPair(ApiModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user: UserRead


class OrganizationRef(ApiModel):
    id: UUID
    name: str
    type: OrganizationType
    status: str


class OrgScopeRead(ApiModel):
    all_organizations: bool
    organization_ids: list[UUID]


class MeRead(ApiModel):
    user: UserRead
    organization: OrganizationRef
    role: Role | None
    permissions: list[str]
    org_scope: OrgScopeRead


class RefreshBody(ApiInput):
    refresh_token: str = Field(min_length=16, max_length=256)


class SessionRead(ApiModel):
    id: UUID
    ip_address: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class MfaChallengeRead(ApiModel):
    mfa_required: Literal[True] = True
    mfa_token: str
    methods: list[str] = Field(default_factory=lambda: ["totp", "backup_code"])


class MfaCompleteBody(ApiInput):
    mfa_token: str = Field(min_length=16, max_length=256)
    code: str = Field(min_length=6, max_length=32)


class MfaCodeBody(ApiInput):
    code: str = Field(min_length=6, max_length=32)


class MfaSetupRead(ApiModel):
    secret: str
    otpauth_uri: str


class BackupCodesRead(ApiModel):
    backup_codes: list[str]


class PasswordChangeBody(ApiInput):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=1024)


# --- Users API ----------------------------------------------------------------------------

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


def _name(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


class UserCreateFields(ApiInput):
    email: str = Field(min_length=3, max_length=255, pattern=EMAIL_PATTERN)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    role: Role

    @field_validator("first_name", "last_name")
    @classmethod
    def _not_blank(cls, value: str) -> str | None:
        return _name(value)


class UserCreateBody(UserCreateFields):
    """`POST /api/users`: the organization defaults to the caller's own."""

    organization_id: UUID | None = None


class UserUpdateBody(ApiInput):
    """`PUT /api/users/{id}`: only these fields; the status only active or inactive."""

    email: str | None = Field(default=None, min_length=3, max_length=255, pattern=EMAIL_PATTERN)
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    # Plain values, not enum members: a refusal then names `active`, not a Python repr.
    status: Literal["active", "inactive"] | None = None

    @field_validator("first_name", "last_name")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        return _name(value)


class RevokedRead(ApiModel):
    revoked: int


class ForgotPasswordBody(ApiInput):
    email: str = Field(min_length=1, max_length=255)


class ResetPasswordBody(ApiInput):
    token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=1024)


class VerifyEmailBody(ApiInput):
    token: str = Field(min_length=1, max_length=256)


class ApiKeyCreateBody(ApiInput):
    organization_id: UUID
    name: str | None = Field(default=None, max_length=100)
    permissions: list[str] = Field(max_length=100)


class ApiKeyRead(ApiModel):
    """Never the key itself nor its hash: only the prefix identifies it."""

    id: UUID
    # `ApiKeyRead.model_validate(api_key)` reads the domain's `org_id`.
    organization_id: UUID = Field(validation_alias=AliasChoices("org_id", "organization_id"))
    name: str | None
    prefix: str
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyRead):
    key: str  # shown only in the creation response


class ApiKeyExchangeBody(ApiInput):
    api_key: str = Field(min_length=1, max_length=200)


class AccessTokenRead(ApiModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
