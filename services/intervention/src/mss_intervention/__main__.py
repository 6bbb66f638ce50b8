"""`python -m mss_intervention api|worker`."""

from __future__ import annotations

from mss_intervention import worker
from mss_intervention.config import SERVICE, InterventionSettings
from mss_service.cli import main

if __name__ == "__main__":
    main(SERVICE, settings=InterventionSettings, worker=worker.run)
