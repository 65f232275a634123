"""Custom event types: registered by the admin with a JSON Schema (Draft 2020-12) for their `data`,
versioned MODEL-REVISION-ADDITION; publish validates data against the latest version.

Types neither built in nor registered stay custom with any JSON object as data.
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from herald.domain.catalog import CATALOG
from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, Invalid, NotFound
from herald.store.tables import custom_event_types

MAX_SCHEMA_BYTES = 64 * 1024
MAX_ERRORS_PER_EVENT = 50
MAX_MESSAGE = 200
CACHE_TTL = 2.0  # seconds another process may keep answering with the version it knew
VERSION = re.compile(r"^(\d{1,9})-(\d{1,9})-(\d{1,9})$")


def parse_version(version: str) -> tuple[int, int, int]:
    """MODEL-REVISION-ADDITION as a comparable tuple, or Invalid (422) naming `version`."""
    match = VERSION.match(version)
    if match is None:
        raise Invalid(f"version: {version!r} is not MODEL-REVISION-ADDITION (e.g. 1-0-0)", field="version")
    model, revision, addition = (int(part) for part in match.groups())
    return model, revision, addition


def check_schema(schema: Any) -> None:
    """A JSON Schema Herald will accept: an object, at most 64 KiB encoded, valid Draft 2020-12."""
    if not isinstance(schema, dict):
        raise Invalid("schema: must be a JSON object", field="schema")
    size = len(orjson.dumps(schema))
    if size > MAX_SCHEMA_BYTES:
        raise Invalid(f"schema: {size} bytes, the limit is {MAX_SCHEMA_BYTES}", field="schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        field = f"schema.{where}" if where else "schema"
        raise Invalid(f"{field}: {_short(exc.message)}", field=field) from exc


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _public(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["schema"] = out.pop("json_schema")
    return out


async def _versions(db: Database, name: str) -> list[dict[str, Any]]:
    """Every registered version of `name`, oldest first."""
    async with db.read() as conn:
        rows = (
            (await conn.execute(select(custom_event_types).where(custom_event_types.c.name == name)))
            .mappings()
            .all()
        )
    return sorted((_public(r) for r in rows), key=lambda r: parse_version(r["version"]))


async def register(
    db: Database, name: str, version: str, schema: dict[str, Any], description: str = ""
) -> dict[str, Any]:
    if name in CATALOG:
        raise Conflict(f"name: {name!r} is a built-in event type", field="name")
    wanted = parse_version(version)
    check_schema(schema)
    existing = await _versions(db, name)
    if any(r["version"] == version for r in existing):
        raise Conflict(f"version {version} of {name!r} is already registered", field="version")
    if existing and wanted <= parse_version(existing[-1]["version"]):
        latest = existing[-1]["version"]
        raise Invalid(f"version: must be greater than the latest, {latest}", field="version")
    row = {
        "id": new_id("evtype"),
        "name": name,
        "version": version,
        "json_schema": schema,
        "description": description,
        "created_at": time.time(),
    }
    try:
        async with db.write() as conn:
            await conn.execute(insert(custom_event_types), row)
    except IntegrityError as exc:
        raise Conflict(f"version {version} of {name!r} is already registered", field="version") from exc
    validators(db).forget(name)
    return _public(row)


async def list_latest(db: Database) -> list[dict[str, Any]]:
    """The latest version of every registered name, by name."""
    async with db.read() as conn:
        rows = (await conn.execute(select(custom_event_types))).mappings().all()
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        known = latest.get(row["name"])
        if known is None or parse_version(row["version"]) > parse_version(known["version"]):
            latest[row["name"]] = _public(row)
    return [latest[name] for name in sorted(latest)]


async def get_latest(db: Database, name: str) -> dict[str, Any]:
    """The latest version, with `versions` listing every registered one (oldest first); NotFound if none."""
    existing = await _versions(db, name)
    if not existing:
        raise NotFound(f"event type {name!r} is neither built in nor registered", field="name")
    return {**existing[-1], "versions": [r["version"] for r in existing]}


async def get_version(db: Database, name: str, version: str) -> dict[str, Any]:
    for row in await _versions(db, name):
        if row["version"] == version:
            return row
    raise NotFound(f"version {version} of {name!r} is not registered", field="version")


async def delete_version(db: Database, name: str, version: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            delete(custom_event_types).where(
                custom_event_types.c.name == name, custom_event_types.c.version == version
            )
        )
    if not result.rowcount:
        raise NotFound(f"version {version} of {name!r} is not registered", field="version")
    validators(db).forget(name)


# ------------------------------------------------------------------------------ validation at publish


@dataclass
class _Latest:
    version: str | None
    validator: Draft202012Validator | None
    expires: float


class Validators:
    """Compiled validators per (name, version), and which version is the latest per name for CACHE_TTL
    seconds (registration in this process refreshes at once)."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str], Draft202012Validator] = {}
        self._latest: dict[str, _Latest] = {}

    def forget(self, name: str) -> None:
        self._latest.pop(name, None)

    async def latest(self, db: Database, name: str) -> _Latest:
        now = time.monotonic()
        known = self._latest.get(name)
        if known is not None and known.expires > now:
            return known
        existing = await _versions(db, name)
        if not existing:
            known = _Latest(None, None, now + CACHE_TTL)
        else:
            row = existing[-1]
            key = (name, row["version"])
            validator = self._compiled.get(key)
            if validator is None:
                validator = self._compiled[key] = Draft202012Validator(row["schema"])
            known = _Latest(row["version"], validator, now + CACHE_TTL)
        self._latest[name] = known
        return known

    async def errors(self, db: Database, name: str, data: Any) -> list[dict[str, Any]]:
        """The problems of `data` for a registered type, as {"field", "message", "code"} (field relative
        to data); empty for types not registered."""
        if name in CATALOG:
            return []
        latest = await self.latest(db, name)
        if latest.validator is None:
            return []
        out: list[dict[str, Any]] = []
        for error in latest.validator.iter_errors(data):
            out.append(_error(error))
            if len(out) >= MAX_ERRORS_PER_EVENT:
                break
        return sorted(out, key=lambda e: e["field"])


def _error(error: ValidationError) -> dict[str, Any]:
    path = [str(p) for p in error.absolute_path]
    required: Any = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict) and isinstance(required, list):
        missing = [p for p in required if p not in error.instance and error.message.startswith(repr(p))]
        if missing:
            path.append(str(missing[0]))
    return {"field": ".".join(path), "message": _short(error.message), "code": str(error.validator)}


_VALIDATORS: weakref.WeakKeyDictionary[Database, Validators] = weakref.WeakKeyDictionary()


def validators(db: Database) -> Validators:
    """The validator cache of this process for `db`."""
    found = _VALIDATORS.get(db)
    if found is None:
        found = _VALIDATORS[db] = Validators()
    return found
