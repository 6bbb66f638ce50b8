"""`python -m mss_audit api|worker`."""

from __future__ import annotations

from mss_audit import worker
from mss_audit.config import SERVICE, AuditSettings
from mss_service.cli import dispatch, run_api, run_worker


def api() -> None:
    settings = AuditSettings()
    run_api(
        "mss_audit.main:create_app", service=SERVICE, port=settings.audit_port, settings=settings
    )


if __name__ == "__main__":
    dispatch(
        SERVICE,
        {
            "api": api,
            "worker": lambda: run_worker(
                worker.run,
                service=SERVICE,
                settings=AuditSettings(),
                metrics_port=AuditSettings().audit_worker_metrics_port,
            ),
        },
    )
