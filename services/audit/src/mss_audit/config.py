from __future__ import annotations

from pathlib import Path

from mss_settings import PlatformSettings

SERVICE = "audit"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class AuditSettings(PlatformSettings):
    # Where the worker appends the chain heads (ship this file off the machine).
    audit_anchor_file: Path | None = None
    audit_anchor_interval_s: float = 60.0

    @property
    def anchor_file(self) -> Path:
        return self.audit_anchor_file or self.run_dir / "audit" / "anchors.jsonl"
