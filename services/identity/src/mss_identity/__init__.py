"""The identity service: users, credentials, sessions, MFA and the signing keys."""
