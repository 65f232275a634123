"""Master-key rotation, SQLite and PostgreSQL: after `reencrypt_all` the new key alone opens every secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from herald.config import ConfigError
from herald.domain.credentials import Scheme
from herald.store import credentials as credential_store
from herald.store.database import Database
from herald.store.rekey import ENCRYPTED, reencrypt_all
from herald.store.secretbox import SecretBox

if TYPE_CHECKING:
    from conftest import Kit


async def test_rotation_reseals_every_secret(db: Database, kit: Kit) -> None:
    old_key, new_key = SecretBox.generate_key(), SecretBox.generate_key()
    old = SecretBox([old_key])
    kit.box = old
    app = await kit.application("a")
    await kit.subscription("a1")
    cred = await credential_store.create_credential(db, old, "a1", "c", Scheme.BEARER, {}, "token-number-1")
    await credential_store.rotate_credential(db, old, "a1", cred["id"], 0, "token-number-2")

    both = SecretBox([new_key, old_key])
    changed = await reencrypt_all(db, both)
    assert changed >= 3

    only_new = SecretBox([new_key])
    seen = 0
    for table, names in ENCRYPTED:
        for row in await kit.rows(table):
            for name in names:
                if row[name]:
                    only_new.decrypt(row[name])  # raises ConfigError if anything was left on the old key
                    with pytest.raises(ConfigError):
                        old.decrypt(row[name])
                    seen += 1
    assert seen == changed
    assert (await credential_store.get_credential(db, only_new, "a1", cred["id"]))["secret"].endswith(
        "er-2"[-4:]
    )
    assert app["client_secret"] == only_new.decrypt((await kit.rows(ENCRYPTED[0][0]))[0]["client_secret"])
