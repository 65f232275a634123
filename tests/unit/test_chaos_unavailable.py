"""Which errors mean "the database is away, try again" (503) rather than a fault (500)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError

from herald.store.database import database_unavailable


def wrapped(cause: BaseException) -> DBAPIError:
    """What SQLAlchemy raises for a driver error: a DBAPIError whose cause is the driver's exception."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise DBAPIError("SELECT 1", None, exc) from exc
    except DBAPIError as outer:
        return outer


def test_refused_reset_and_shutting_down_are_unavailable() -> None:
    assert database_unavailable(ConnectionRefusedError(111, "Connection refused"))
    assert database_unavailable(ConnectionResetError(104, "Connection reset by peer"))
    assert database_unavailable(wrapped(asyncpg.exceptions.CannotConnectNowError("shutting down")))
    assert database_unavailable(wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")))
    assert database_unavailable(wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed")))
    assert database_unavailable(DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True))


def test_faults_in_the_request_or_the_code_are_not() -> None:
    assert not database_unavailable(ValueError("bad"))
    assert not database_unavailable(IntegrityError("INSERT", None, Exception("duplicate key")))
    assert not database_unavailable(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))
