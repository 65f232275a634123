"""Recover and replay against a real Herald (serve on SQLite; api + 2 workers on PostgreSQL, which share the
job runner) and a real receiver: jobs run in the background, their progress is visible, recovered dead
deliveries arrive, replays arrive as new, marked deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e_harness import Api, Herald, Receiver, unique, wait_until
from test_api import assert_error


def hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def finished_job(api: Api, path: str, timeout: float = 20.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = api.expect(200, "GET", path)
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_until(f"job {path} to finish", probe, timeout, interval=0.1)


def test_dead_deliveries_are_recovered_and_delivered(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("recover")
    receiver.script(path, default=500)
    sub = api.account_subscription(account, receiver.url(path), ["rec.event"])
    events = [unique("evt-rec") for _ in range(3)]
    api.publish(account, *({"id": e, "type": "rec.event", "data": {"n": i}} for i, e in enumerate(events)))
    dead = [api.settled(account, event_id=e, timeout=20) for e in events]
    assert {d["status"] for d in dead} == {"dead"}
    listed = api.deliveries(account, subscription_id=sub["id"], status="dead")
    assert sorted(d["id"] for d in listed) == sorted(d["id"] for d in dead)
    attempts_before = dead[0]["attempts"]

    receiver.script(path, default=200)  # the endpoint is back
    base = f"/v1/accounts/{account}"
    recover = f"{base}/subscriptions/{sub['id']}/recover"
    body, key = {"since": hour_ago()}, {"Idempotency-Key": unique("idem")}
    job = api.expect(202, "POST", recover, json=body, headers=key)
    assert job["kind"] == "recover" and job["status"] in ("queued", "running", "succeeded")
    assert job["subscription_id"] == sub["id"] and job["account_id"] == account
    # The same request with the same Idempotency-Key returns that job instead of starting another.
    same = api.request("POST", recover, json=body, headers=key)
    assert same.status_code == 202 and same.json()["id"] == job["id"]
    assert same.headers["idempotent-replayed"] == "true"
    # The same key for another operation is refused.
    other = api.request("POST", recover, json={**body, "include_retrying": True}, headers=key)
    assert assert_error(other, 409, "conflict")["data"]["job_id"] == job["id"]

    done = finished_job(api, f"{base}/jobs/{job['id']}")
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", 3, 3, 3)
    assert done["started_at"] and done["finished_at"] and done["error"] is None
    for event_id in events:
        delivered = api.settled(account, event_id=event_id)
        assert delivered["status"] == "delivered", delivered
        assert delivered["attempts"] == attempts_before + 1
        assert delivered["attempt_log"][-1]["status_code"] == 200
    # The same delivery ids reach the receiver again (stable webhook-id for de-duplication).
    ok = [r for r in receiver.requests(path) if r.status == 200]
    assert sorted(r.headers["webhook-id"] for r in ok) == sorted(d["id"] for d in dead)

    # Running the recovery again finds nothing dead in the window and sends nothing.
    again = finished_job(api, f"{base}/jobs/{api.expect(202, 'POST', recover, json=body)['id']}")
    assert (again["status"], again["affected"]) == ("succeeded", 0)
    assert len([r for r in receiver.requests(path) if r.status == 200]) == 3
    listed = {j["id"] for j in api.expect(200, "GET", f"{base}/jobs")["data"]}
    assert {job["id"], again["id"]} <= listed


def test_replay_creates_new_marked_deliveries_that_arrive(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("replay")
    app = api.create_application(unique("replay-app"))
    api.install(app["id"], account)
    sub = api.app_subscription(app["id"], receiver.url(path), ["rp.*"])
    wanted = [unique("evt-rp-a") for _ in range(2)]
    other = unique("evt-rp-b")
    api.publish(
        account,
        *({"id": e, "type": "rp.a", "data": {"n": 1}} for e in wanted),
        {"id": other, "type": "rp.b", "data": {"n": 2}},
    )
    originals = {e: api.settled(account, event_id=e)["id"] for e in [*wanted, other]}
    receiver.wait_for(path, 3)

    base = f"/v1/applications/{app['id']}"
    job = api.expect(
        202,
        "POST",
        f"{base}/subscriptions/{sub['id']}/replay",
        json={"since": hour_ago(), "event_types": ["rp.a"]},
    )
    assert job["kind"] == "replay" and job["application_id"] == app["id"]
    done = finished_job(api, f"{base}/jobs/{job['id']}")
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", 2, 2, 2)

    arrivals = receiver.wait_for(path, 5)
    replays = api.deliveries(account, subscription_id=sub["id"], is_replay="true")
    assert sorted(d["event_id"] for d in replays) == sorted(wanted)
    assert {(d["replay_of"], d["is_replay"]) for d in replays} == {(job["id"], True)}
    assert not {d["id"] for d in replays} & set(originals.values())
    wait_until(
        "replays delivered",
        lambda: all(d["status"] == "delivered" for d in api.deliveries(account, replay_of=job["id"])),
        10,
    )
    # Each replay went out under its own new delivery id, with the original event's data.
    by_id = {r.headers["webhook-id"]: r for r in arrivals}
    for d in replays:
        assert by_id[d["id"]].json()["data"] == {"n": 1}
    plain = api.deliveries(account, subscription_id=sub["id"], is_replay="false")
    assert sorted(d["id"] for d in plain) == sorted(originals.values())

    # Jobs belong to their owner: the account's job list does not show the application's job.
    assert job["id"] not in {j["id"] for j in api.expect(200, "GET", f"/v1/accounts/{account}/jobs")["data"]}
    assert_error(api.request("GET", f"/v1/accounts/{account}/jobs/{job['id']}"), 404, "not_found")


def test_recovery_requests_are_checked(api: Api, receiver: Receiver, account: str) -> None:
    sub = api.account_subscription(account, receiver.url(receiver.new_path("chk")), ["c.event"])
    base = f"/v1/accounts/{account}/subscriptions"
    now = datetime.now(UTC)
    bad_window = api.request(
        "POST", f"{base}/{sub['id']}/recover", json={"since": now.isoformat(), "until": hour_ago()}
    )
    assert assert_error(bad_window, 422, "validation")["data"]["field"] == "until"
    bad_filter = api.request(
        "POST", f"{base}/{sub['id']}/replay", json={"since": hour_ago(), "filter": {"a": {"$nope": 1}}}
    )
    assert assert_error(bad_filter, 422, "validation")["data"]["field"].startswith("filter")
    missing = api.request("POST", f"{base}/sub_nope/recover", json={"since": hour_ago()})
    assert assert_error(missing, 404, "not_found")["data"]["field"] == "subscription_id"
    unknown = api.request("POST", f"{base}/{sub['id']}/recover", json={"since": hour_ago(), "x": 1})
    assert assert_error(unknown, 422, "validation")["data"]["field"] == "x"
    api.expect(200, "PATCH", f"{base}/{sub['id']}", json={"enabled": False})
    disabled = api.request("POST", f"{base}/{sub['id']}/replay", json={"since": hour_ago()})
    assert_error(disabled, 409, "conflict")
    assert_error(api.request("GET", f"/v1/accounts/{account}/jobs/job_nope"), 404, "not_found")

    # Starting a job needs deliveries:rw; following jobs needs deliveries:read.
    api.expect(200, "PATCH", f"{base}/{sub['id']}", json={"enabled": True})
    pat = api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={"scopes": ["deliveries:read"]})
    reader = Api(api.base_url, pat["token"])
    denied = reader.request("POST", f"{base}/{sub['id']}/recover", json={"since": hour_ago()})
    assert assert_error(denied, 403, "authorization")["data"] == {"scope": "deliveries:rw"}
    assert reader.expect(200, "GET", f"/v1/accounts/{account}/jobs")["data"] == []
    writer = Api(api.base_url, api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={})["token"])
    job = writer.expect(202, "POST", f"{base}/{sub['id']}/replay", json={"since": hour_ago()})
    assert reader.expect(200, "GET", f"/v1/accounts/{account}/jobs/{job['id']}")["id"] == job["id"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_job_interrupted_by_a_crash_is_resumed_after_restart(
    herald_factory: Callable[..., Herald], receiver: Receiver, backend: str
) -> None:
    """SIGKILL `herald serve` in the middle of a recovery: the restarted process takes the job over when its
    lease expires and finishes it; every row is counted once (no batch applied twice)."""
    h = herald_factory(
        backend,
        HERALD_JOB_BATCH="1",
        HERALD_JOB_LEASE_SECONDS="2",
        HERALD_JOB_POLL_INTERVAL="0.2",
        HERALD_BREAKER_FAILURES="0",  # all 400 must fail first; an open breaker would hold them back
    )
    api, account, n = h.api, unique("acct-crash"), 400
    path = receiver.new_path("crash-recover")
    receiver.script(path, default=500)
    sub = api.account_subscription(account, receiver.url(path), ["c.event"], max_retries=0)
    api.publish(account, *({"type": "c.event", "data": {"i": i}} for i in range(n)))
    wait_until(
        "every delivery dead",
        lambda: len(api.deliveries(account, subscription_id=sub["id"], status="dead")) == n,
        30,
        interval=0.2,
    )
    receiver.script(path, default=200)

    job_path = f"/v1/accounts/{account}/jobs/"
    job_path += api.expect(
        202, "POST", f"/v1/accounts/{account}/subscriptions/{sub['id']}/recover", json={"since": hour_ago()}
    )["id"]
    halfway = wait_until(
        "the job under way", lambda: (j := api.expect(200, "GET", job_path))["done"] >= 5 and j, 20
    )
    h.restart_api()
    api = h.api
    interrupted = api.expect(200, "GET", job_path)
    assert interrupted["status"] == "running" and interrupted["done"] < n, interrupted
    assert interrupted["done"] >= halfway["done"]  # committed batches survive the crash

    done = finished_job(api, job_path, timeout=60)
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", n, n, n)
    wait_until(
        "every recovered delivery delivered",
        lambda: len(api.deliveries(account, subscription_id=sub["id"], status="delivered")) == n,
        30,
        interval=0.2,
    )
    delivered_ids = {r.headers["webhook-id"] for r in receiver.requests(path) if r.status == 200}
    assert delivered_ids == {d["id"] for d in api.deliveries(account, subscription_id=sub["id"])}
