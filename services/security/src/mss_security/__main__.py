"""`python -m mss_security api|worker|intel`."""

from __future__ import annotations

from mss_security import intel_cli, worker
from mss_security.config import SERVICE, SecuritySettings
from mss_service.cli import main

if __name__ == "__main__":
    main(
        SERVICE,
        settings=SecuritySettings,
        worker=worker.run,
        commands={"intel": intel_cli.main},
    )
