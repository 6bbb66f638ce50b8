"""`python -m mss_notification api|worker`."""

from __future__ import annotations

from mss_notification import worker
from mss_notification.config import SERVICE, NotificationSettings
from mss_service.cli import dispatch, run_api, run_worker


def api() -> None:
    settings = NotificationSettings()
    run_api(
        "mss_notification.main:create_app",
        service=SERVICE,
        port=settings.notification_port,
        settings=settings,
    )


if __name__ == "__main__":
    dispatch(
        SERVICE,
        {
            "api": api,
            "worker": lambda: run_worker(
                worker.run,
                service=SERVICE,
                settings=NotificationSettings(),
                metrics_port=NotificationSettings().notification_worker_metrics_port,
            ),
        },
    )
