"""Access tokens (ES256 against our JWKS), revocable sessions, principals and permissions."""

from mss_auth.dependencies import CurrentPrincipal, require
from mss_auth.principal import Principal
from mss_auth.tokens import AccessClaims, TokenError, TokenVerifier

__all__ = [
    "AccessClaims",
    "CurrentPrincipal",
    "Principal",
    "TokenError",
    "TokenVerifier",
    "require",
]
