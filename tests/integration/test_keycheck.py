"""The key check value, SQLite and PostgreSQL: keys that cannot open the database's secrets are refused,
a key file is generated only for a database without secrets, and rotation and rekey keep the check true."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete

from herald.config import Settings
from herald.domain.credentials import Scheme
from herald.store import credentials as credential_store
from herald.store.database import Database
from herald.store.keycheck import KeyMismatch, holds_secrets, prepare_keys, verify_keys
from herald.store.migrate import upgrade
from herald.store.rekey import reencrypt_all
from herald.store.secretbox import SecretBox
from herald.store.tables import key_check

if TYPE_CHECKING:
    from conftest import Kit


def settings_for(db: Database, key: str | None = None, key_file: Path | None = None) -> Settings:
    return Settings(
        database_url=db.url, secret_key=key, secret_key_file=str(key_file or "/nonexistent/herald.key")
    )


async def test_the_first_keys_seal_the_check_and_other_keys_are_refused(db: Database, kit: Kit) -> None:
    first, other = SecretBox.generate_key(), SecretBox.generate_key()
    await verify_keys(db, SecretBox([first]), settings_for(db, first))
    assert len(await kit.rows(key_check)) == 1
    assert await holds_secrets(db)  # the check value alone marks the database as sealed

    await verify_keys(db, SecretBox([first]), settings_for(db, first))  # the same keys: fine, one row
    assert len(await kit.rows(key_check)) == 1
    with pytest.raises(KeyMismatch) as refused:
        await verify_keys(db, SecretBox([other]), settings_for(db, other))
    assert "HERALD_SECRET_KEY" in str(refused.value) and "HERALD_SECRET_KEY_FILE" in str(refused.value)


async def test_rotation_and_rekey_keep_the_check_true(db: Database, kit: Kit) -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    await verify_keys(db, SecretBox([old]), settings_for(db, old))
    both = SecretBox([new, old])  # the new key prepended: everything still opens
    await verify_keys(db, both, settings_for(db, f"{new},{old}"))
    with pytest.raises(KeyMismatch):  # the new key alone, before `herald rekey`: not yet
        await verify_keys(db, SecretBox([new]), settings_for(db, new))

    await reencrypt_all(db, both)  # `herald rekey`
    await verify_keys(db, SecretBox([new]), settings_for(db, new))
    with pytest.raises(KeyMismatch):
        await verify_keys(db, SecretBox([old]), settings_for(db, old))


async def test_a_database_from_before_the_check_is_checked_against_a_stored_secret(
    db: Database, kit: Kit
) -> None:
    key, other = SecretBox.generate_key(), SecretBox.generate_key()
    await credential_store.create_credential(db, SecretBox([key]), "a1", "c", Scheme.BEARER, {}, "token-1234")
    async with db.write() as conn:
        await conn.execute(delete(key_check))
    with pytest.raises(KeyMismatch):
        await verify_keys(db, SecretBox([other]), settings_for(db, other))
    assert await kit.rows(key_check) == []  # a refused start seals nothing
    await verify_keys(db, SecretBox([key]), settings_for(db, key))
    assert SecretBox([key]).decrypt((await kit.rows(key_check))[0]["sealed"])


async def test_no_key_file_is_made_for_a_database_that_holds_secrets(db: Database, tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    await credential_store.create_credential(db, SecretBox([key]), "a1", "c", Scheme.BEARER, {}, "token-1234")
    elsewhere = tmp_path / "elsewhere" / "herald.key"
    elsewhere.parent.mkdir()
    with pytest.raises(KeyMismatch) as refused:
        await prepare_keys(settings_for(db, key_file=elsewhere))
    assert "HERALD_SECRET_KEY" in str(refused.value) and str(elsewhere) in str(refused.value)
    assert not elsewhere.exists()
    with pytest.raises(KeyMismatch):  # a key file holding another key
        elsewhere.write_text(SecretBox.generate_key())
        await prepare_keys(settings_for(db, key_file=elsewhere))
    elsewhere.write_text(key)
    await prepare_keys(settings_for(db, key_file=elsewhere))


async def test_a_fresh_database_gets_a_key_file_and_the_check_sealed_with_it(
    database_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "herald.key"
    fresh = Database(database_url)
    try:
        await prepare_keys(settings_for(fresh, key_file=key_file))  # no schema yet: a key, nothing sealed
        assert key_file.exists()
        await upgrade(fresh)
        await prepare_keys(settings_for(fresh, key_file=key_file))  # now sealed with that key
        assert await holds_secrets(fresh)
        key_file.unlink()
        with pytest.raises(KeyMismatch):
            await prepare_keys(settings_for(fresh, key_file=key_file))
        assert not key_file.exists()
    finally:
        await fresh.dispose()
