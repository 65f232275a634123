"""Recovery from the dashboard over plain HTTP against a live Herald (both backends): the recover and replay
forms of a subscription's page start the same jobs as the API (checked through the JSON API), the job pages
follow them to the end, replays are marked in the delivery log, and the forms are scoped and CSRF-checked
like every other form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dashboard_client import Ui, personal_token
from e2e_harness import Api, Herald, Receiver, unique, wait_until

REFRESH = '<meta http-equiv="refresh"'
KEY = re.compile(r'name="key" value="([^"]+)"')


@pytest.fixture
def ui(herald: Herald) -> Iterator[Ui]:
    client = Ui(herald)
    yield client
    client.close()


def local(delta: timedelta) -> str:
    """A datetime-local value (the form reads it as UTC), `delta` from now."""
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S")


def finished(api: Api, account: str, job_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = api.expect(200, "GET", f"/v1/accounts/{account}/jobs/{job_id}")
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_until(f"job {job_id} to finish", probe, 20, interval=0.1)


def form_keys(ui: Ui, page: str) -> tuple[str, list[str]]:
    """The CSRF token and the idempotency keys of the forms on a page."""
    text = ui.get(page).text
    return ui.csrf(page), KEY.findall(text)


def job_of(resp: Any, account: str) -> str:
    assert resp.status_code == 303, (resp.status_code, resp.text[:400])
    location = resp.headers["location"]
    assert location.startswith(f"/ui/a/{account}/jobs/job_"), location
    return str(location.rsplit("/", 1)[1])


def test_recover_a_time_range_from_the_subscription_page(
    api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    path = receiver.new_path("ui-recover")
    receiver.script(path, default=500)
    sub = api.account_subscription(account, receiver.url(path), ["uirec.event"], name=unique("rec"))
    events = [unique("evt-uirec") for _ in range(3)]
    api.publish(account, *({"id": e, "type": "uirec.event", "data": {"n": i}} for i, e in enumerate(events)))
    dead = [api.settled(account, event_id=e, timeout=20) for e in events]
    assert {d["status"] for d in dead} == {"dead"}
    receiver.script(path, default=200)  # the endpoint is back

    assert ui.sign_in(personal_token(api, account)).status_code == 303
    page = f"/ui/a/{account}/subscriptions/{sub['id']}"
    html = ui.get(page).text
    assert 'id="recover-form"' in html and 'id="replay-form"' in html and 'name="include_retrying"' in html
    csrf, keys = form_keys(ui, page)
    form = {"csrf": csrf, "key": keys[0], "since": local(timedelta(hours=-1)), "until": ""}
    job_id = job_of(ui.post(f"{page}/recover", form, csrf=None), account)

    # The same job the API would have made: an account job of this subscription, with the form's window.
    job = api.expect(200, "GET", f"/v1/accounts/{account}/jobs/{job_id}")
    assert (job["kind"], job["subscription_id"], job["account_id"]) == ("recover", sub["id"], account)
    assert job["params"]["include_retrying"] is False and job["params"]["until"] is None
    since = datetime.fromisoformat(job["params"]["since"])
    assert abs(since - (datetime.now(UTC) - timedelta(hours=1))) < timedelta(minutes=5)
    # Submitting the same rendering of the form again (a double click, a reload) returns that job.
    assert job_of(ui.post(f"{page}/recover", form, csrf=None), account) == job_id

    done = finished(api, account, job_id)
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", 3, 3, 3)
    shown = ui.get(f"/ui/a/{account}/jobs/{job_id}")
    assert shown.status_code == 200 and REFRESH not in shown.text
    assert re.search(r'id="job-status">succeeded<', shown.text)
    assert re.search(r"3 / 3 deliveries looked at", shown.text)
    assert re.search(r'id="job-affected">3 deliveries queued again', shown.text)
    listing = ui.get(f"/ui/a/{account}/jobs")
    assert listing.status_code == 200 and job_id in listing.text and REFRESH not in listing.text
    for event_id in events:
        assert api.settled(account, event_id=event_id)["status"] == "delivered"
    # Exactly one job was started for the two submissions.
    assert [j["id"] for j in api.expect(200, "GET", f"/v1/accounts/{account}/jobs")["data"]] == [job_id]


def test_recover_from_the_filtered_delivery_log(api: Api, receiver: Receiver, ui: Ui, account: str) -> None:
    """The delivery log filtered by a subscription and a start time offers to recover that very range."""
    path = receiver.new_path("ui-recover-log")
    sub = api.account_subscription(account, receiver.url(path), ["uilog.event"])
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    log = f"/ui/a/{account}/deliveries"
    assert 'id="recover-form"' not in ui.get(log).text  # no subscription chosen: nothing to recover
    since, until = local(timedelta(hours=-2)), local(timedelta(minutes=-1))
    page = ui.get(log, params={"subscription_id": sub["id"], "since": since, "until": until})
    assert 'id="recover-form"' in page.text
    resp = ui.post(
        f"/ui/a/{account}/subscriptions/{sub['id']}/recover",
        {"since": since, "until": until, "include_retrying": "on", "key": KEY.findall(page.text)[0]},
        csrf=ui.csrf(log),
    )
    job = api.expect(200, "GET", f"/v1/accounts/{account}/jobs/{job_of(resp, account)}")
    assert job["params"]["include_retrying"] is True
    # The form's times are read as UTC, like the log's filter.
    for field, typed in (("since", since), ("until", until)):
        assert datetime.fromisoformat(job["params"][field]) == datetime.fromisoformat(typed).replace(
            tzinfo=UTC
        )


def test_replay_from_the_subscription_page_and_its_markers(
    api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    path = receiver.new_path("ui-replay")
    sub = api.account_subscription(account, receiver.url(path), ["uirp.a", "uirp.b"], name=unique("rp"))
    wanted = [unique("evt-uirp-a") for _ in range(2)]
    other = unique("evt-uirp-b")
    api.publish(
        account,
        *({"id": e, "type": "uirp.a", "data": {"n": 1}} for e in wanted),
        {"id": other, "type": "uirp.b", "data": {"n": 2}},
    )
    originals = {api.settled(account, event_id=e)["id"] for e in [*wanted, other]}

    assert ui.sign_in(personal_token(api, account)).status_code == 303
    page = f"/ui/a/{account}/subscriptions/{sub['id']}"
    html = ui.get(page).text
    assert '<option value="uirp.a">' in html and '<option value="uirp.b">' in html  # the subscription's types
    csrf, keys = form_keys(ui, page)
    replay_key = next(k for k in keys if k.endswith("-replay"))
    form = {"csrf": csrf, "key": replay_key, "since": local(timedelta(hours=-1)), "event_types": ["uirp.a"]}
    job_id = job_of(ui.post(f"{page}/replay", form, csrf=None), account)
    job = api.expect(200, "GET", f"/v1/accounts/{account}/jobs/{job_id}")
    assert (job["kind"], job["subscription_id"]) == ("replay", sub["id"])
    assert job["params"]["event_types"] == ["uirp.a"] and job["params"]["filter"] is None
    done = finished(api, account, job_id)
    assert (done["status"], done["affected"]) == ("succeeded", 2)
    shown = ui.get(f"/ui/a/{account}/jobs/{job_id}").text
    assert "2 new deliveries" in shown and f"deliveries?replay_of={job_id}" in shown

    replays = api.deliveries(account, replay_of=job_id)
    assert sorted(d["event_id"] for d in replays) == sorted(wanted)
    log = f"/ui/a/{account}/deliveries"
    only = ui.get(log, params={"subscription_id": sub["id"], "is_replay": "true"}).text
    assert all(d["id"] in only for d in replays) and not any(o in only for o in originals)
    assert only.count('class="pill replay"') == 2 and f'href="/ui/a/{account}/jobs/{job_id}"' in only
    none = ui.get(log, params={"subscription_id": sub["id"], "is_replay": "false"}).text
    assert all(o in none for o in originals) and not any(d["id"] in none for d in replays)
    assert 'class="pill replay"' not in none
    by_job = ui.get(log, params={"replay_of": job_id}).text
    assert all(d["id"] in by_job for d in replays) and not any(o in by_job for o in originals)
    assert ui.get(log, params={"is_replay": "maybe"}).status_code == 422

    detail = ui.get(f"{log}/{replays[0]['id']}").text
    assert 'id="replay-of"' in detail and f'href="/ui/a/{account}/jobs/{job_id}"' in detail
    plain = ui.get(f"{log}/{next(iter(originals))}").text
    assert 'id="replay-of"' not in plain and "an original delivery" in plain


def test_bad_forms_show_what_is_wrong_and_start_nothing(
    api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    sub = api.account_subscription(account, receiver.url(receiver.new_path("ui-bad")), ["uibad.a"])
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    page = f"/ui/a/{account}/subscriptions/{sub['id']}"
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("recover", {"since": ""}, 422, "since: required"),
        ("recover", {"since": "yesterday"}, 422, "since: not a date and time"),
        ("recover", {"since": local(timedelta(0)), "until": local(timedelta(hours=-1))}, 422, "later than"),
        ("replay", {"since": local(timedelta(hours=-1)), "event_types": ["uibad.zzz"]}, 422, "uibad.zzz"),
    ]
    for action, data, status, message in cases:
        resp = ui.post(f"{page}/{action}", data, csrf=ui.csrf(page))
        assert resp.status_code == status, (action, data, resp.status_code)
        assert message in resp.text and 'id="recover-form"' in resp.text, (action, data)
    api.expect(200, "PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", json={"enabled": False})
    assert 'id="recover-form"' not in ui.get(page).text
    disabled = ui.post(f"{page}/replay", {"since": local(timedelta(hours=-1))}, csrf=ui.csrf(page))
    assert disabled.status_code == 409 and "enable it first" in disabled.text
    assert api.expect(200, "GET", f"/v1/accounts/{account}/jobs")["data"] == []


def test_recovery_is_scoped_and_csrf_checked(api: Api, receiver: Receiver, ui: Ui, account: str) -> None:
    other = unique("acct")
    mine = api.account_subscription(account, receiver.url(receiver.new_path("ui-a")), ["uisc.a"])
    theirs = api.account_subscription(other, receiver.url(receiver.new_path("ui-b")), ["uisc.a"])
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    their_job = api.expect(
        202, "POST", f"/v1/accounts/{other}/subscriptions/{theirs['id']}/recover", json={"since": since}
    )
    # Signed out, the pages send the browser to the sign-in page.
    for page in (f"/ui/a/{account}/jobs", f"/ui/a/{other}/jobs/{their_job['id']}"):
        assert ui.get(page).headers.get("location") == "/ui/sign-in"
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    csrf = ui.csrf(f"/ui/a/{account}/subscriptions")
    form = {"since": local(timedelta(hours=-1)), "csrf": csrf}
    for owner in (other, account):
        for action in ("recover", "replay"):
            resp = ui.post(f"/ui/a/{owner}/subscriptions/{theirs['id']}/{action}", form, csrf=None)
            assert resp.status_code == 404 and "Not found" in resp.text, (owner, action, resp.status_code)
        job_page = ui.get(f"/ui/a/{owner}/jobs/{their_job['id']}")
        assert job_page.status_code == 404 and theirs["id"] not in job_page.text
    assert ui.get(f"/ui/a/{other}/jobs").status_code == 404
    assert their_job["id"] not in ui.get(f"/ui/a/{account}/jobs").text

    # Without the session's CSRF token nothing starts, on the caller's own subscription too.
    for csrf_value in (None, "wrong-token"):
        for action in ("recover", "replay"):
            resp = ui.post(
                f"/ui/a/{account}/subscriptions/{mine['id']}/{action}",
                {"since": form["since"]},
                csrf=csrf_value,
            )
            assert resp.status_code == 403 and "security token" in resp.text
    assert api.expect(200, "GET", f"/v1/accounts/{account}/jobs")["data"] == []
    assert [j["id"] for j in api.expect(200, "GET", f"/v1/accounts/{other}/jobs")["data"]] == [
        their_job["id"]
    ]


def test_read_only_token_follows_jobs_but_cannot_start_them(
    api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    sub = api.account_subscription(account, receiver.url(receiver.new_path("ui-ro")), ["uiro.a"])
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    job = api.expect(
        202, "POST", f"/v1/accounts/{account}/subscriptions/{sub['id']}/replay", json={"since": since}
    )
    assert ui.sign_in(personal_token(api, account, scopes=["deliveries:read"])).status_code == 303
    assert job["id"] in ui.get(f"/ui/a/{account}/jobs").text
    assert ui.get(f"/ui/a/{account}/jobs/{job['id']}").status_code == 200
    csrf = ui.csrf(f"/ui/a/{account}/jobs")
    resp = ui.post(
        f"/ui/a/{account}/subscriptions/{sub['id']}/replay", {"since": local(timedelta(hours=-1))}, csrf=csrf
    )
    assert resp.status_code == 403 and "deliveries:rw" in resp.text
    assert len(api.expect(200, "GET", f"/v1/accounts/{account}/jobs")["data"]) == 1


def test_job_page_refreshes_until_the_job_is_done(
    herald_factory: Callable[..., Herald], receiver: Receiver, account: str
) -> None:
    """With no job runner yet (PostgreSQL: `herald api` alone), the job stays queued and its page reloads
    itself; once a worker runs it, the page shows the result and stops reloading."""
    deployed = herald_factory("postgresql", workers=0)
    api = deployed.api
    path = receiver.new_path("ui-refresh")
    sub = api.account_subscription(account, receiver.url(path), ["uirf.a"])
    events = [unique("evt-uirf") for _ in range(2)]
    api.publish(account, *({"id": e, "type": "uirf.a", "data": {}} for e in events))
    client = Ui(deployed)
    try:
        assert client.sign_in(personal_token(api, account)).status_code == 303
        page = f"/ui/a/{account}/subscriptions/{sub['id']}"
        form = {"since": local(timedelta(hours=-1))}
        job_id = job_of(client.post(f"{page}/replay", form, csrf=client.csrf(page)), account)
        queued = client.get(f"/ui/a/{account}/jobs/{job_id}").text
        assert REFRESH in queued and 'id="job-status">queued<' in queued and "0 / ? events" in queued
        assert REFRESH in client.get(f"/ui/a/{account}/jobs").text
        deployed.start_worker()
        done = finished(api, account, job_id)
        assert (done["status"], done["affected"]) == ("succeeded", 2)
        shown = client.get(f"/ui/a/{account}/jobs/{job_id}").text
        assert REFRESH not in shown and 'id="job-status">succeeded<' in shown and "2 / 2 events" in shown
        assert REFRESH not in client.get(f"/ui/a/{account}/jobs").text
    finally:
        client.close()


def test_application_replays_are_marked_but_have_no_account_job_page(
    api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    """A replay started by an installed application shows in the account's log with its badge; its job is the
    application's, so the badge leads to the log of that replay instead of a job page."""
    path = receiver.new_path("ui-app-replay")
    app = api.create_application(unique("ui-app"))
    api.install(app["id"], account)
    sub = api.app_subscription(app["id"], receiver.url(path), ["uiapp.a"])
    event_id = unique("evt-uiapp")
    api.publish(account, {"id": event_id, "type": "uiapp.a", "data": {}})
    api.settled(account, event_id=event_id)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    base = f"/v1/applications/{app['id']}"
    job = api.expect(202, "POST", f"{base}/subscriptions/{sub['id']}/replay", json={"since": since})
    wait_until(
        "the application's replay",
        lambda: api.expect(200, "GET", f"{base}/jobs/{job['id']}")["status"] == "succeeded",
        20,
    )
    replay = api.deliveries(account, replay_of=job["id"])[0]

    assert ui.sign_in(personal_token(api, account)).status_code == 303
    log = ui.get(f"/ui/a/{account}/deliveries", params={"is_replay": "true"}).text
    assert replay["id"] in log and f'href="/ui/a/{account}/deliveries?replay_of={job["id"]}"' in log
    assert f"/jobs/{job['id']}" not in log
    detail = ui.get(f"/ui/a/{account}/deliveries/{replay['id']}").text
    assert (
        job["id"] in detail and "started by the application" in detail and f"/jobs/{job['id']}" not in detail
    )
    assert ui.get(f"/ui/a/{account}/jobs/{job['id']}").status_code == 404
