"""Audit rules: what an event means as an audit entry, and the hash chain."""
