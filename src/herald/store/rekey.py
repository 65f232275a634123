"""Master-key rotation: re-encrypt every stored secret with the first configured key.

Put the new key first in HERALD_SECRET_KEY (keeping the old ones after it), run `herald rekey`, then drop
the old keys. Until the run, secrets sealed with an old key still decrypt (MultiFernet)."""

from __future__ import annotations

from sqlalchemy import Column, Table, select, update

from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import applications, credentials, key_check, mtls_mappings, subscriptions

# Every encrypted column, by table. Access tokens are hashed, not encrypted: nothing to re-seal there.
SECRETS: list[tuple[Table, list[str]]] = [
    (applications, ["client_secret"]),
    (subscriptions, ["secret"]),
    (credentials, ["secret", "previous_secret"]),
    (mtls_mappings, ["private_key"]),
]
# ...and the key check value, re-sealed with them so that the old keys can be dropped after a rekey.
ENCRYPTED: list[tuple[Table, list[str]]] = [*SECRETS, (key_check, ["sealed"])]


async def reencrypt_all(db: Database, box: SecretBox) -> int:
    """Re-seal every secret with the first key, in one transaction; returns how many values changed."""
    changed = 0
    async with db.write() as conn:
        for table, names in ENCRYPTED:
            key: Column[str] = table.c.id
            rows = (await conn.execute(select(key, *(table.c[n] for n in names)))).mappings().all()
            for row in rows:
                values = {n: box.rotate(row[n]) for n in names if row[n]}
                if values:
                    await conn.execute(update(table).where(key == row["id"]).values(**values))
                    changed += len(values)
    return changed
