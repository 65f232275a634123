"""The key check value: the database remembers which master key sealed its secrets.

A process started elsewhere without HERALD_SECRET_KEY used to make itself a fresh key file and then fail
every delivery ("a stored secret cannot be decrypted"), while deliveries piled up. Instead:
- a key is generated only for a database that holds no secrets yet (`prepare_keys`), and
- at start-up the configured keys must open a constant sealed at first use (`verify_keys`); on a database
  from before the check value (migration 0012) a stored secret stands in for it.
Rotation keeps working: with the new key prepended every key still decrypts (MultiFernet), and
`herald rekey` re-seals the check value along with the secrets (store/rekey.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.config import ConfigError, Settings
from herald.store.database import Database, database_unavailable
from herald.store.rekey import SECRETS
from herald.store.secretbox import SecretBox
from herald.store.tables import key_check

log = logging.getLogger(__name__)

CHECK_PLAINTEXT = "herald key check v1"
CHECK_ID = 1


class KeyMismatch(ConfigError):
    """The configured master keys cannot open what the database holds (or there are none)."""


def _where(settings: Settings) -> str:
    if settings.secret_key:
        return "the keys in HERALD_SECRET_KEY"
    return f"the key file {Path(settings.secret_key_file).resolve()} (HERALD_SECRET_KEY_FILE)"


def wrong_keys(settings: Settings) -> KeyMismatch:
    return KeyMismatch(
        f"{_where(settings)} cannot decrypt the secrets this database holds: set HERALD_SECRET_KEY or "
        "HERALD_SECRET_KEY_FILE to the master key(s) its other processes use"
    )


def no_key(settings: Settings) -> KeyMismatch:
    return KeyMismatch(
        "this database holds secrets sealed with a master key, and no key is configured here (no "
        f"HERALD_SECRET_KEY, no key file at {Path(settings.secret_key_file).resolve()}): set "
        "HERALD_SECRET_KEY or HERALD_SECRET_KEY_FILE to the key its other processes use; a new key "
        "could not open them"
    )


async def _has_table(conn: AsyncConnection, name: str) -> bool:
    return await conn.run_sync(lambda sync: inspect(sync).has_table(name))


async def _sealed_sample(conn: AsyncConnection) -> tuple[bool, str | None]:
    """(whether the check table exists, the check value or else any stored secret, if there is one)."""
    has_check = await _has_table(conn, key_check.name)
    if has_check:
        sealed = await conn.scalar(select(key_check.c.sealed).where(key_check.c.id == CHECK_ID))
        if sealed:
            return True, str(sealed)
    for table, names in SECRETS:
        if not await _has_table(conn, table.name):
            continue
        for name in names:
            value = await conn.scalar(select(table.c[name]).where(table.c[name].is_not(None)).limit(1))
            if value:
                return has_check, str(value)
    return has_check, None


async def holds_secrets(db: Database) -> bool:
    async with db.read() as conn:
        return (await _sealed_sample(conn))[1] is not None


async def verify_keys(db: Database, box: SecretBox, settings: Settings) -> None:
    """Refuse keys that cannot open what the database holds; seal the check value at first use."""
    for attempt in range(2):
        try:
            async with db.write() as conn:
                has_check, sample = await _sealed_sample(conn)
                if sample is not None:
                    try:
                        box.decrypt(sample)
                    except ConfigError as exc:
                        raise wrong_keys(settings) from exc
                if has_check and not await conn.scalar(select(key_check.c.id)):
                    await conn.execute(
                        insert(key_check),
                        {"id": CHECK_ID, "sealed": box.encrypt(CHECK_PLAINTEXT), "updated_at": time.time()},
                    )
            return
        except IntegrityError:  # another process sealed it first: check against that one
            if attempt:
                raise


async def prepare_keys(settings: Settings, patience: float = 120.0) -> None:
    """Before a process builds its runtime: make a key file only for a database without secrets, and
    refuse keys that cannot open the secrets it has. Raises KeyMismatch. A database that cannot be
    reached yet (restarting) is waited for, up to `patience` seconds, as workers always have."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await _prepare_keys(settings)
        except Exception as exc:
            if not database_unavailable(exc) or time.monotonic() > deadline:
                raise
            log.warning("database unavailable while checking the master keys: %s; retrying", exc)
            await asyncio.sleep(1.0)


async def _prepare_keys(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        keys = settings.secret_keys(create=False)
        if not keys:
            if await holds_secrets(db):
                raise no_key(settings)
            keys = settings.secret_keys()
        await verify_keys(db, SecretBox(keys), settings)
    finally:
        await db.dispose()
