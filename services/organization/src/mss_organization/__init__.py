"""The organization service: customer organizations, their settings and provider access."""
