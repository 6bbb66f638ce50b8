from __future__ import annotations

from pathlib import Path

from mss_settings import PlatformSettings

SERVICE = "security"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class SecuritySettings(PlatformSettings):
    """The platform's settings; this service's own go here (read from MSS_* variables)."""
