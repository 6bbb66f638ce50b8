from __future__ import annotations

from pathlib import Path

from mss_settings import PlatformSettings

SERVICE = "organization"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class OrganizationSettings(PlatformSettings):
    organization_worker_metrics_port: int = 9102
    organization_port: int = 8102
    provider_name: str = "MSS Provider"
