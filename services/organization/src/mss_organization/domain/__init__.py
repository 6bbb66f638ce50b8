"""Organization rules: no framework, no I/O."""
