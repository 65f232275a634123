"""The dashboard's own queries: endpoint health from the attempts table (per subscription, per time slice,
success by profile, percentiles), the subscriptions that deliver an account's events, known accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from herald.store import ui
from herald.store.database import Database
from herald.store.tables import attempts, deliveries

if TYPE_CHECKING:
    from conftest import Kit


async def _attempts(
    db: Database, account: str, sub_id: str, rows: list[tuple[float, float, int | None]]
) -> None:
    """One delivery per attempt: (attempted_at, duration_ms, status_code)."""
    async with db.write() as conn:
        for i, (at, duration, status) in enumerate(rows):
            delivery_id = f"dlv_{sub_id}_{i}"
            await conn.execute(
                insert(deliveries),
                {
                    "id": delivery_id,
                    "account_id": account,
                    "event_id": f"e{i}",
                    "event_type": "t",
                    "subscription_id": sub_id,
                    "status": "delivered",
                    "attempts": 1,
                    "created_at": at,
                },
            )
            await conn.execute(
                insert(attempts),
                {
                    "id": f"att_{sub_id}_{i}",
                    "delivery_id": delivery_id,
                    "account_id": account,
                    "attempt": 1,
                    "attempted_at": at,
                    "duration_ms": duration,
                    "status_code": status,
                },
            )


async def test_endpoint_health_buckets_success_and_percentiles(db: Database, kit: Kit) -> None:
    standard = await kit.subscription("a1")
    data = await kit.subscription("a1", profile="liveperson-data")
    other = await kit.subscription("a2")
    # Slices of 100 s from t=1000: standard has 4 attempts in slice 0 (one 500, one connection error)
    # and one in slice 2; liveperson-data counts 202 as a failure (only 200 and 201 succeed).
    await _attempts(
        db,
        "a1",
        standard["id"],
        [(1000, 10, 200), (1010, 20, 204), (1020, 30, 500), (1030, 40, None), (1250, 5, 200)],
    )
    await _attempts(db, "a1", data["id"], [(1100, 7, 201), (1110, 9, 202)])
    await _attempts(db, "a2", other["id"], [(1000, 1, 200)])
    await _attempts(db, "a1", standard["id"] + "x", [(999, 1, 200)])  # before the window: not counted

    health = await ui.endpoint_health(db, "a1", 1000, 1300, 3)
    assert set(health) == {standard["id"], data["id"]}  # never another account's

    s = health[standard["id"]]
    assert [b.total for b in s.buckets] == [4, 0, 1]
    assert [b.ok for b in s.buckets] == [2, 0, 1]
    assert [b.start for b in s.buckets] == [1000, 1100, 1200]
    assert s.buckets[0].success_rate == 0.5 and s.buckets[1].success_rate is None
    assert s.buckets[0].percentile(50) == 20 and s.buckets[0].percentile(99) == 40
    assert s.total == 5 and s.ok == 3 and s.percentile(50) == 20

    d = health[data["id"]]
    assert [b.total for b in d.buckets] == [0, 2, 0] and d.ok == 1


def test_percentile_nearest_rank() -> None:
    assert ui.percentile([], 50) is None
    assert ui.percentile([5.0], 99) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert ui.percentile(values, 50) == 50.0
    assert ui.percentile(values, 95) == 95.0
    assert ui.percentile(values, 100) == 100.0


async def test_subscriptions_of_an_account_and_known_accounts(db: Database, kit: Kit) -> None:
    own = await kit.subscription("a1")
    elsewhere = await kit.subscription("a2")
    app = await kit.application()
    installed = await kit.subscription(None, application_id=app["id"])
    other_app = await kit.application("other")
    not_installed = await kit.subscription(None, application_id=other_app["id"])
    await kit.install(app["id"], "a1")

    subs: dict[str, Any] = await ui.subscriptions_by_id(db, "a1")
    assert set(subs) == {own["id"], installed["id"]}
    assert elsewhere["id"] not in subs and not_installed["id"] not in subs
    assert "secret" not in subs[own["id"]]
    assert set(await ui.subscriptions_by_id(db, "a1", [elsewhere["id"], own["id"]])) == {own["id"]}

    installs = await ui.account_installations(db, "a1")
    assert [(i["application_name"], i["state"]) for i in installs] == [("app", "UP")]
    assert await ui.known_accounts(db) == ["a1", "a2"]
