"""Errors the store raises for the API to turn into clear answers."""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Invalid(StoreError):
    """The request is well formed but its content is refused (422)."""
