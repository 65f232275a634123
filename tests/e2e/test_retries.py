"""Success rules and retries of each profile, and manual resend, against a real receiver."""

from __future__ import annotations

import itertools
import time
from typing import Any

from e2e_harness import LIVEPERSON_RETRY_INTERVAL, RETRY_SCHEDULE, Api, Receiver, Reply, unique
from standardwebhooks import Webhook

LP_TYPE = "ms.MessagingEventNotification.ContentEvent"
LP_CHANGE = {"sequence": 1, "conversationId": "c-1", "event": {"type": "ContentEvent", "message": "hi"}}


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def statuses(delivery: dict[str, Any]) -> list[int | None]:
    return [a["status_code"] for a in delivery["attempt_log"]]


def error_kinds(delivery: dict[str, Any]) -> list[str | None]:
    return [a["error_kind"] for a in delivery["attempt_log"]]


def test_liveperson_success_is_200_or_201_only(api: Api, receiver: Receiver, account: str) -> None:
    """202 and 500 are failures: retried max_retries times at the LivePerson interval, then dead."""
    subs = {}
    for status in (202, 500, 201, 200):
        path = receiver.new_path(f"lp{status}")
        receiver.script(path, default=status)
        sub = api.account_subscription(
            account, receiver.url(path), [LP_TYPE], profile="liveperson-connector", max_retries=2
        )
        subs[status] = (sub, path)
    event_id = unique("evt-lp-retry")
    api.publish(account, {"id": event_id, "type": LP_TYPE, "data": LP_CHANGE})

    for status in (201, 200):
        sub, path = subs[status]
        delivery = api.settled(account, event_id=event_id, subscription_id=sub["id"])
        assert delivery["status"] == "delivered", (status, delivery)
        assert delivery["attempts"] == 1
        assert statuses(delivery) == [status]
        assert error_kinds(delivery) == [None]

    for status in (202, 500):
        sub, path = subs[status]
        delivery = api.settled(account, event_id=event_id, subscription_id=sub["id"], timeout=15)
        assert delivery["status"] == "dead", (status, delivery)
        assert delivery["attempts"] == 3, delivery
        assert statuses(delivery) == [status] * 3
        assert error_kinds(delivery) == ["bad_status"] * 3
        assert delivery["last_status_code"] == status
        assert delivery["last_error_kind"] == "bad_status"
        assert delivery["finished_at"] is not None
        arrivals = receiver.requests(path)
        assert len(arrivals) == 3
        # A fixed interval between LivePerson attempts (no jitter); the same delivery id each time.
        for gap in gaps([r.at for r in arrivals]):
            assert gap >= LIVEPERSON_RETRY_INTERVAL * 0.8, gaps([r.at for r in arrivals])
        assert len({r.headers["x-herald-delivery-id"] for r in arrivals}) == 1

    time.sleep(LIVEPERSON_RETRY_INTERVAL * 3)
    for status, (_, path) in subs.items():
        expected = 3 if status in (202, 500) else 1
        assert len(receiver.requests(path)) == expected, f"{status}: attempts after the delivery finished"


def test_liveperson_application_subscription_retries_per_installation(
    api: Api, receiver: Receiver, account: str
) -> None:
    """Without its own max_retries, an application subscription uses the installation's."""
    app = api.create_application(unique("lp-retry-app"))
    api.install(app["id"], account, max_retries=1)
    path = receiver.new_path("lp-inst")
    receiver.script(path, default=503)
    sub = api.app_subscription(app["id"], receiver.url(path), [LP_TYPE], profile="liveperson-connector")
    event_id = unique("evt-lp-inst")
    api.publish(account, {"id": event_id, "type": LP_TYPE, "data": LP_CHANGE})
    delivery = api.settled(account, event_id=event_id, subscription_id=sub["id"], timeout=15)
    assert delivery["status"] == "dead", delivery
    assert statuses(delivery) == [503, 503]
    time.sleep(LIVEPERSON_RETRY_INTERVAL * 2)
    assert len(receiver.requests(path)) == 2


def test_standard_retries_until_success(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("std-retry")
    receiver.script(path, 500, 500, default=200)
    sub = api.account_subscription(account, receiver.url(path), ["invoice.paid"])
    event_id = unique("evt-std-retry")
    api.publish(account, {"id": event_id, "type": "invoice.paid", "data": {"amount": 10}})

    delivery = api.settled(account, event_id=event_id, timeout=15)
    assert delivery["status"] == "delivered", delivery
    assert delivery["attempts"] == 3
    assert statuses(delivery) == [500, 500, 200]
    assert error_kinds(delivery) == ["bad_status", "bad_status", None]
    assert [a["attempt"] for a in delivery["attempt_log"]] == [1, 2, 3]
    assert delivery["last_status_code"] == 200
    assert delivery["next_attempt_at"] is None

    arrivals = receiver.requests(path)
    assert [r.status for r in arrivals] == [500, 500, 200]
    # Every attempt carries the same webhook-id and a fresh, valid signature over the same body.
    assert {r.headers["webhook-id"] for r in arrivals} == {delivery["id"]}
    assert len({r.body for r in arrivals}) == 1
    for r in arrivals:
        Webhook(sub["secret"]).verify(r.body, r.headers)
    # The schedule's delay (± 20 % jitter) separates the attempts.
    for gap in gaps([r.at for r in arrivals]):
        assert gap >= RETRY_SCHEDULE[0] * 0.7, gaps([r.at for r in arrivals])


def test_standard_retries_exhausted_is_dead_with_every_attempt_logged(
    api: Api, receiver: Receiver, account: str
) -> None:
    limited_path, default_path = receiver.new_path("std-dead2"), receiver.new_path("std-dead")
    receiver.script(limited_path, default=Reply(503, body=b"busy"))
    receiver.script(default_path, default=Reply(418, body=b"teapot"))
    limited = api.account_subscription(account, receiver.url(limited_path), ["x.failed"], max_retries=2)
    default = api.account_subscription(account, receiver.url(default_path), ["x.failed"])
    event_id = unique("evt-dead")
    api.publish(account, {"id": event_id, "type": "x.failed", "data": {}})

    # max_retries=2: three attempts.
    delivery = api.settled(account, event_id=event_id, subscription_id=limited["id"], timeout=15)
    assert delivery["status"] == "dead", delivery
    assert delivery["attempts"] == 3
    assert statuses(delivery) == [503, 503, 503]
    assert error_kinds(delivery) == ["bad_status"] * 3
    assert [a["response_body"] for a in delivery["attempt_log"]] == ["busy"] * 3
    assert all(a["duration_ms"] >= 0 for a in delivery["attempt_log"])
    assert delivery["finished_at"] is not None and delivery["next_attempt_at"] is None

    # No max_retries: one attempt plus one retry per entry of the schedule.
    delivery = api.settled(account, event_id=event_id, subscription_id=default["id"], timeout=15)
    assert delivery["status"] == "dead", delivery
    assert statuses(delivery) == [418] * (1 + len(RETRY_SCHEDULE))

    time.sleep(max(RETRY_SCHEDULE) * 3)
    assert len(receiver.requests(limited_path)) == 3
    assert len(receiver.requests(default_path)) == 1 + len(RETRY_SCHEDULE)
    dead = api.deliveries(account, status="dead")
    assert {d["subscription_id"] for d in dead} == {limited["id"], default["id"]}


def test_resend_of_a_dead_delivery_makes_exactly_one_more_attempt(
    api: Api, receiver: Receiver, account: str
) -> None:
    path = receiver.new_path("resend")
    receiver.script(path, default=500)
    api.account_subscription(account, receiver.url(path), ["y.happened"], max_retries=0)
    event_id = unique("evt-resend")
    api.publish(account, {"id": event_id, "type": "y.happened", "data": {"n": 1}})
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "dead" and delivery["attempts"] == 1, delivery

    # Still failing: the resend is tried once, not retried.
    queued = api.resend(account, delivery["id"])
    assert queued["id"] == delivery["id"]
    assert queued["status"] in ("pending", "dead")
    receiver.wait_for(path, 2)
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "dead", delivery
    assert statuses(delivery) == [500, 500]
    time.sleep(max(RETRY_SCHEDULE) * 3)
    assert len(receiver.requests(path)) == 2, "a manual resend must not be retried automatically"

    # Now the receiver is back: one resend delivers it.
    receiver.script(path, default=200)
    api.resend(account, delivery["id"])
    receiver.wait_for(path, 3)
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "delivered", delivery
    assert statuses(delivery) == [500, 500, 200]
    assert delivery["attempts"] == 3
    assert {r.headers["webhook-id"] for r in receiver.requests(path)} == {delivery["id"]}
    assert len(receiver.requests(path)) == 3
