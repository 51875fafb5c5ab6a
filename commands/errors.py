"""Errors a listener raises to tell the user something; turned into ephemeral text by the app."""

from __future__ import annotations


class UserFacingError(Exception):
    """The message is shown to the user as is: say what was wrong and what to do."""
