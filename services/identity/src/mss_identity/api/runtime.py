"""Identity's runtime: the shared one plus password hashing, signing keys and token issuing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

import mss_service
from mss_contracts.internal import OrganizationRecord
from mss_identity.adapters.keys import KeyRing, TokenIssuer, local_key_loader
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import ORG_DIRECTORY
from mss_identity.application.org_directory import record_fetched_organization
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

    async def close(self) -> None:
        self.hasher.close()
        await super().close()


# What every identity route declares to reach the runtime: `rt: Runtime`.
Runtime = Annotated[IdentityRuntime, Depends(mss_service.runtime)]
