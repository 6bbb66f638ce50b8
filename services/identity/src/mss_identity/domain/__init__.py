"""Identity rules: no framework, no I/O."""
