from __future__ import annotations

from pathlib import Path

from mss_settings import PlatformSettings

SERVICE = "organization"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class OrganizationSettings(PlatformSettings):
    provider_name: str = "MSS Provider"
