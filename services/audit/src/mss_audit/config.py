from __future__ import annotations

from pathlib import Path

from mss_settings import PlatformSettings

SERVICE = "audit"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class AuditSettings(PlatformSettings):
    audit_worker_metrics_port: int = 9105
    audit_port: int = 8105
