"""Opaque keyset cursors over (created_at, id), newest first."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from sqlalchemy import Column, Select, and_, or_

from herald.store.errors import StoreError


class BadCursor(StoreError):
    pass


def encode_cursor(created_at: float, row_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([created_at, row_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, row_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return float(created_at), str(row_id)
    except Exception as exc:
        raise BadCursor("cursor is not one Herald issued", field="cursor") from exc


def page(
    query: Select[Any], created_col: Column[Any], id_col: Column[Any], limit: int, cursor: str | None
) -> Select[Any]:
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(or_(created_col < created_at, and_(created_col == created_at, id_col < row_id)))
    return query.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def split_page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last["created_at"], last["id"])
