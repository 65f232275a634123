from herald.store import queue
from herald.store.database import Database
from herald.store.publish import NewEvent, publish
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, create_subscription


async def test_publish_then_claim(db: Database, box: SecretBox) -> None:
    sub = await create_subscription(
        db,
        box,
        Owner(account_id="a1"),
        {
            "url": "https://example.com/h",
            "event_types": ["x.y"],
            "name": None,
            "description": None,
            "profile": "standard",
            "ordered": False,
            "max_retries": None,
        },
    )
    result = await publish(db, "a1", [NewEvent(id="e1", type="x.y", timestamp=1.0, data='{"k":1}')])
    assert result.deliveries == 1
    claimed = await queue.claim(db, 10, 30)
    assert [c.subscription_id for c in claimed] == [sub["id"]]
    assert claimed[0].event_data == b'{"k":1}'
    assert await queue.claim(db, 10, 30) == []
