"""`python -m mss_identity api|introspect|worker|keys|bootstrap`."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from uuid import UUID

from mss_identity import worker
from mss_identity.adapters.keys import add_key, ensure_key, prune_keys
from mss_identity.application.users import ensure_super_admin
from mss_identity.config import SERVICE, IdentitySettings
from mss_identity.main import build_runtime
from mss_service.cli import main, run_api


def introspect() -> None:
    """The gateway's token check, in a process of its own (a login flood cannot slow it)."""
    run_api(
        "mss_identity.introspection:create_app",
        service=SERVICE,
        settings=IdentitySettings(),
        command="introspect",
    )


def keys() -> None:
    """Ensure a signing key exists; with `rotate`, add a new active one.

    Running processes pick the new key up within seconds. Rotation also deletes the keys
    whose tokens have all expired; the previous key stays until then.
    """
    settings = IdentitySettings()
    if "rotate" in sys.argv[2:]:
        print(add_key(settings.keys_dir))
        pruned = prune_keys(
            settings.keys_dir, token_ttl_s=settings.access_token_ttl_s, now=time.time()
        )
        for kid in pruned:
            print(f"removed expired key {kid}", file=sys.stderr)
    else:
        print(ensure_key(settings.keys_dir).active_kid)


def bootstrap() -> None:
    """Create the provider's first super admin: `bootstrap <provider-org-id> <provider-name>`."""
    settings = IdentitySettings()
    org_id, name = UUID(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "MSS Provider"

    async def main() -> None:
        runtime = build_runtime(settings)
        try:
            password = settings.bootstrap_admin_password
            result = await ensure_super_admin(
                provider_org_id=org_id,
                provider_name=name,
                email=settings.bootstrap_admin_email,
                password=password.get_secret_value() if password else None,
                uow_factory=runtime.uow,
                hasher=runtime.hasher,
            )
        finally:
            await runtime.close()
        if result.password is not None:
            # Generated: kept only in the ignored secrets dir, readable by its owner alone.
            path = settings.secrets_dir / "bootstrap-admin-password"
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch(mode=0o600)
            path.write_text(result.password)
            os.chmod(path, 0o600)
        print(result.user_id)

    asyncio.run(main())


if __name__ == "__main__":
    main(
        SERVICE,
        settings=IdentitySettings,
        worker=worker.run,
        commands={"introspect": introspect, "keys": keys, "bootstrap": bootstrap},
    )
