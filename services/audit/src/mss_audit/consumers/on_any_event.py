"""Every event of the platform lands here: stored, then appended to its org's chain."""

from __future__ import annotations

from mss_audit.application.records import record_event

BINDINGS = ["#"]

on_any_event = record_event
