"""Custom event types in the store, on SQLite and PostgreSQL: versions only increase, built-in names and
bad schemas are refused, and publish-time validation follows the latest version."""

from __future__ import annotations

import pytest

from herald.store import event_types as store
from herald.store.database import Database
from herald.store.errors import Conflict, Invalid, NotFound

ORDER = {"type": "object", "properties": {"amount": {"type": "integer"}}, "required": ["amount"]}


async def test_register_list_get_and_delete_versions(db: Database) -> None:
    first = await store.register(db, "order.created", "1-0-0", ORDER, "an order")
    assert first["schema"] == ORDER and first["version"] == "1-0-0"
    await store.register(db, "order.created", "1-0-10", {"type": "object"})
    await store.register(db, "other", "2-1-0", {})

    latest = await store.get_latest(db, "order.created")
    assert latest["version"] == "1-0-10" and latest["versions"] == ["1-0-0", "1-0-10"]
    assert (await store.get_version(db, "order.created", "1-0-0"))["schema"] == ORDER
    assert [(r["name"], r["version"]) for r in await store.list_latest(db)] == [
        ("order.created", "1-0-10"),
        ("other", "2-1-0"),
    ]

    await store.delete_version(db, "order.created", "1-0-10")
    assert (await store.get_latest(db, "order.created"))["version"] == "1-0-0"
    with pytest.raises(NotFound):
        await store.delete_version(db, "order.created", "1-0-10")
    await store.delete_version(db, "order.created", "1-0-0")
    with pytest.raises(NotFound):
        await store.get_latest(db, "order.created")


async def test_refusals(db: Database) -> None:
    await store.register(db, "pay.done", "1-2-0", ORDER)
    with pytest.raises(Conflict):
        await store.register(db, "pay.done", "1-2-0", ORDER)
    for older in ("1-1-9", "0-9-9"):
        with pytest.raises(Invalid) as info:
            await store.register(db, "pay.done", older, ORDER)
        assert info.value.data["field"] == "version"
    for bad in ("1.0.0", "1-0", "a-b-c", "1-0-0-0"):
        with pytest.raises(Invalid):
            await store.register(db, "pay.x", bad, ORDER)
    with pytest.raises(Conflict) as conflict:
        await store.register(db, "AgentSnapshotEvent", "1-0-0", ORDER)
    assert conflict.value.data["field"] == "name"

    with pytest.raises(Invalid) as bad_schema:
        await store.register(db, "pay.x", "1-0-0", {"type": "objekt"})
    assert bad_schema.value.data["field"].startswith("schema")
    with pytest.raises(Invalid) as nested:
        await store.register(db, "pay.x", "1-0-0", {"properties": {"a": {"minimum": "x"}}})
    assert nested.value.data["field"] == "schema.properties.a.minimum"
    huge = {"description": "x" * (store.MAX_SCHEMA_BYTES + 1)}
    with pytest.raises(Invalid, match="limit"):
        await store.register(db, "pay.x", "1-0-0", huge)
    with pytest.raises(NotFound):
        await store.get_latest(db, "pay.x")


async def test_validation_follows_the_latest_version(db: Database) -> None:
    checks = store.validators(db)
    assert await checks.errors(db, "never.registered", {"anything": 1}) == []
    await store.register(db, "order.paid", "1-0-0", ORDER)
    assert await checks.errors(db, "order.paid", {"amount": 3}) == []
    errors = await checks.errors(db, "order.paid", {"amount": "3"})
    assert [(e["field"], e["code"]) for e in errors] == [("amount", "type")]
    missing = await checks.errors(db, "order.paid", {})
    assert [(e["field"], e["code"]) for e in missing] == [("amount", "required")]

    loose = {"type": "object", "properties": {"amount": {"type": ["integer", "string"]}}}
    await store.register(db, "order.paid", "2-0-0", loose)  # refreshes this process's cache at once
    assert await checks.errors(db, "order.paid", {"amount": "3"}) == []
    await store.delete_version(db, "order.paid", "2-0-0")
    assert await checks.errors(db, "order.paid", {"amount": "3"}) != []
