"""The notification service: the mails the platform sends (invitations, resets, verification)."""
