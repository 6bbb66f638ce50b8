from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mss_settings import PlatformSettings

SERVICE = "audit"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class AuditSettings(PlatformSettings):
    # Where the worker appends the chain heads (ship this file off the machine).
    audit_anchor_file: Path | None = None
    audit_anchor_interval_s: float = 60.0

    # The worker applies up to this many events per transaction (MSS_AUDIT_BATCH_SIZE),
    # waiting at most this long for a batch to fill (MSS_AUDIT_BATCH_WAIT_MS).
    audit_batch_size: int = Field(default=500, ge=1, le=5000)
    audit_batch_wait_ms: float = Field(default=25.0, ge=0, le=1000)

    @property
    def anchor_file(self) -> Path:
        return self.audit_anchor_file or self.run_dir / "audit" / "anchors.jsonl"
