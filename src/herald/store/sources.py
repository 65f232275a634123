"""Sources (event buses Herald consumes) and their dead letters. URLs are encrypted at rest."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from herald.buses.urls import mask_password
from herald.ids import new_id
from herald.sources.spec import SourceSpec
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.tables import source_dead_letters, sources

# Columns a caller may set (API names map onto them in the router).
FIELDS = (
    "name",
    "kind",
    "url",
    "target",
    "group_name",
    "account",
    "account_field",
    "type_field",
    "id_field",
    "data_field",
    "ordering_key_field",
    "enabled",
)


def _public(row: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    out = dict(row)
    out["url"] = mask_password(box.decrypt(row["url"]))
    return out


async def create_source(db: Database, box: SecretBox, values: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    row = {k: values[k] for k in FIELDS}
    row.update(id=new_id("src"), url=box.encrypt(values["url"]), created_at=now, updated_at=now)
    try:
        async with db.write() as conn:
            await conn.execute(insert(sources), row)
    except IntegrityError:
        raise Conflict(f"a source named {values['name']} exists", field="name") from None
    return _public(row, box)


async def _row(db: Database, source_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (await conn.execute(select(sources).where(sources.c.id == source_id))).mappings().first()
    if row is None:
        raise NotFound(f"source {source_id} not found", field="source_id")
    return dict(row)


async def get_source(db: Database, box: SecretBox, source_id: str) -> dict[str, Any]:
    return _public(await _row(db, source_id), box)


async def stored_url(db: Database, box: SecretBox, source_id: str) -> str:
    """The decrypted URL (a PATCH that changes other parts keeps the password)."""
    return box.decrypt((await _row(db, source_id))["url"])


async def list_sources(
    db: Database, box: SecretBox, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = page(select(sources), sources.c.created_at, sources.c.id, limit, cursor)
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    found, next_cursor = split_page(rows, limit)
    return [_public(r, box) for r in found], next_cursor


async def update_source(
    db: Database, box: SecretBox, source_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    values = {k: v for k, v in changes.items() if k in FIELDS}
    if "url" in values:
        values["url"] = box.encrypt(values["url"])
    values["updated_at"] = time.time()
    try:
        async with db.write() as conn:
            result = await conn.execute(update(sources).where(sources.c.id == source_id).values(**values))
    except IntegrityError:
        raise Conflict(f"a source named {changes.get('name')} exists", field="name") from None
    if result.rowcount == 0:
        raise NotFound(f"source {source_id} not found", field="source_id")
    return await get_source(db, box, source_id)


async def delete_source(db: Database, source_id: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(delete(sources).where(sources.c.id == source_id))
        if result.rowcount == 0:
            raise NotFound(f"source {source_id} not found", field="source_id")
        await conn.execute(delete(source_dead_letters).where(source_dead_letters.c.source_id == source_id))


async def enabled_specs(db: Database, box: SecretBox) -> list[SourceSpec]:
    """What the runner consumes: every enabled source, its URL decrypted."""
    async with db.read() as conn:
        rows = (await conn.execute(select(sources).where(sources.c.enabled.is_(True)))).mappings().all()
    return [SourceSpec.from_row(dict(r), box.decrypt(r["url"])) for r in rows]


def _dead_letter_id(source_id: str, message_id: str) -> str:
    # Derived from the message, so a poison message redelivered before its ack is kept once.
    return "dl_" + hashlib.sha256(f"{source_id}\x00{message_id}".encode()).hexdigest()[:32]


async def add_dead_letters(db: Database, source_id: str, letters: Sequence[tuple[str, str, str]]) -> int:
    """Keep (message id, reason, raw text) of poison messages; returns how many were new."""
    if not letters:
        return 0
    now = time.time()
    rows = {
        _dead_letter_id(source_id, mid): {
            "source_id": source_id,
            "message_id": mid[:255],
            "reason": reason[:2000],
            "raw": raw,
            "created_at": now,
        }
        for mid, reason, raw in letters
    }
    async with db.write() as conn:
        known = set(
            (
                await conn.execute(
                    select(source_dead_letters.c.id).where(source_dead_letters.c.id.in_(list(rows)))
                )
            ).scalars()
        )
        new = [{"id": i, **r} for i, r in rows.items() if i not in known]
        if new:
            await conn.execute(insert(source_dead_letters), new)
    return len(new)


async def list_dead_letters(
    db: Database, source_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    d = source_dead_letters
    query = page(select(d).where(d.c.source_id == source_id), d.c.created_at, d.c.id, limit, cursor)
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


async def dead_letter_counts(db: Database) -> dict[str, int]:
    """Dead letters kept per source name (every source, 0 for none)."""
    d = source_dead_letters
    query = (
        select(sources.c.name, func.count(d.c.id))
        .select_from(sources.outerjoin(d, d.c.source_id == sources.c.id))
        .group_by(sources.c.name)
    )
    async with db.read() as conn:
        rows = await conn.execute(query)
    return {r[0]: int(r[1]) for r in rows}
