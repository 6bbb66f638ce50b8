"""Rules of user administration that are not the role matrix itself."""

from __future__ import annotations


class EmailTaken(Exception):
    """The organization already has a user with this email."""
