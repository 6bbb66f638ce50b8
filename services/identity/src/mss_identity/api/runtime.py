"""Identity's runtime: the shared one plus password hashing, signing keys and token issuing."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request

import mss_service
from mss_contracts.internal import OrganizationRecord
from mss_identity.adapters.keys import KeyRing, TokenIssuer, local_key_loader
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import ORG_DIRECTORY
from mss_identity.adapters.throttles import Budget, Throttle, UnknownEmailLockouts
from mss_identity.application.api_keys import USE_AUDIT_WINDOW_S
from mss_identity.application.auth import LoginGuards
from mss_identity.application.org_directory import record_fetched_organization
from mss_identity.application.refusals import Refusals
from mss_identity.config import SERVICE, SERVICE_DIR, IdentitySettings


class IdentityRuntime(mss_service.ServiceRuntime):
    """Built by `mss_identity.main.build_runtime`; closed with the process."""

    def __init__(
        self,
        *,
        settings: IdentitySettings,
        hasher: PasswordHasher,
        keys: KeyRing,
        tokens: TokenIssuer,
    ) -> None:
        super().__init__(
            service=SERVICE,
            settings=settings,
            service_dir=SERVICE_DIR,
            key_loader=local_key_loader(settings.keys_dir),
            grant_projection=True,
        )
        # An organization the directory lacks (created a moment ago) is asked of its owner.
        self.project(
            ORG_DIRECTORY,
            owner="organization",
            path="/internal/organizations/{id}",
            record=OrganizationRecord,
            apply=record_fetched_organization,
        )
        self.settings: IdentitySettings = settings
        self.hasher = hasher
        self.keys = keys
        self.tokens = tokens
        # Counters keyed by address or email carry the bus namespace: platforms sharing one
        # Redis (a test run beside a dev one) never spend each other's budgets.
        space = settings.bus_namespace
        self.login_guards = LoginGuards(
            failures_per_address=self._throttle(
                f"{space}login:failures",
                settings.login_failures_per_address,
                settings.login_failure_window_s,
            ),
            unknown_emails=UnknownEmailLockouts(self.redis, f"{space}login:unknown"),
        )
        self.recovery_mails = self._throttle(
            f"{space}recovery:mails",
            settings.recovery_mails_per_account,
            settings.recovery_mail_window_s,
        )
        self.password_attempts = self._throttle(
            f"{space}password:attempts",
            settings.password_change_attempts,
            settings.password_change_window_s,
        )
        self.key_uses = self._throttle(f"{space}api_key:used", 1, USE_AUDIT_WINDOW_S)

    def refusals(self, request: Request) -> Refusals:
        """The refusals of `request`, audited through the denial journal (no I/O)."""
        return Refusals(partial(self.record_denial, request))

    def _throttle(self, key_prefix: str, limit: int, window_s: int) -> Throttle:
        return Throttle(self.redis, Budget(key_prefix=key_prefix, limit=limit, window_s=window_s))

    async def close(self) -> None:
        self.hasher.close()
        await super().close()


# What every identity route declares to reach the runtime: `rt: Runtime`.
Runtime = Annotated[IdentityRuntime, Depends(mss_service.runtime)]
