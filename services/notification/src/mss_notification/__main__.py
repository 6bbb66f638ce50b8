"""`python -m mss_notification api|worker`."""

from __future__ import annotations

from mss_notification import worker
from mss_notification.config import SERVICE, NotificationSettings
from mss_service.cli import main

if __name__ == "__main__":
    main(SERVICE, settings=NotificationSettings, worker=worker.run)
