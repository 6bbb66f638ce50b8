"""Shared contracts of the MSS Platform: pure pydantic, no I/O."""
