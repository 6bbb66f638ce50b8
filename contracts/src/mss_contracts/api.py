"""The public API envelope and error codes (API.md "Envelope")."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    INVALID_TOKEN = "INVALID_TOKEN"
    SESSION_REVOKED = "SESSION_REVOKED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_MFA_CODE = "INVALID_MFA_CODE"
    FORBIDDEN = "FORBIDDEN"
    MFA_ENROLLMENT_REQUIRED = "MFA_ENROLLMENT_REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    INVALID_STATE_TRANSITION = "INVALID_STATE_TRANSITION"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    FOUR_EYES_REQUIRED = "FOUR_EYES_REQUIRED"
    GRANT_REQUIRED = "GRANT_REQUIRED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class ApiModel(BaseModel):
    """Base of every JSON body: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        populate_by_name=True,
        alias_generator=lambda name: _camel(name),
        from_attributes=True,
    )


class ApiInput(ApiModel):
    """Base of request bodies: unknown fields are refused on writes."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # PostgreSQL text and jsonb cannot hold U+0000: refuse it here (a 422 naming the
        # field) instead of letting the INSERT fail as a 500.
        if isinstance(info.context, dict) and info.context.get(NUL_FREE) is True:
            return value  # the raw JSON was seen to hold none (`nul_free_json`)
        if _contains_nul(value):
            raise ValueError("must not contain NUL (U+0000) characters")
        return value


# Validation context key: set by whoever validated the raw JSON and found `nul_free_json`
# true, so no field's value can hold U+0000 (the walk of every value, nested metadata
# included, is then skipped: a batch of 1,000 alerts has some 12,000 fields).
NUL_FREE = "mss_nul_free"


def nul_free_json(raw: bytes) -> bool:
    """True when no string of the JSON document `raw` can hold U+0000: JSON writes it only
    as the escape `\\u0000` (or, invalidly, as the byte itself). A false "no" (an escaped
    backslash before `u0000`) only means the values are checked one by one."""
    return b"\\u0000" not in raw and b"\x00" not in raw


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_contains_nul(item) for item in value)
    return False


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class PageMeta(ApiModel):
    total: int
    page: int
    limit: int
    total_pages: int


class CursorMeta(ApiModel):
    limit: int
    next_cursor: str | None


class ErrorBody(ApiModel):
    success: bool = False
    error: str
    code: ErrorCode
    details: dict[str, Any] | None = Field(default=None)
    timestamp: str
    path: str
