"""A newcomer's first hour against a real Herald: the readable log, `GET /`, the busy-port message,
`herald listen` under the admin token, ISO 8601 times and readable errors on event types."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from e2e_harness import HERALD_BIN, Api, Herald, Receiver, unique, wait_until
from test_api import assert_error


def test_root_redirects_to_the_dashboard(herald: Herald) -> None:
    resp = httpx.get(f"{herald.base_url}/", follow_redirects=False)
    assert resp.status_code == 307 and resp.headers["location"] == "/ui/"
    landed = httpx.get(f"{herald.base_url}/", follow_redirects=True)
    assert landed.status_code == 200 and "/ui/sign-in" in str(landed.url)


def test_root_redirects_to_the_api_reference_without_the_dashboard(
    herald_factory: Callable[..., Herald],
) -> None:
    h = herald_factory("sqlite", HERALD_DASHBOARD="false")
    resp = httpx.get(f"{h.base_url}/", follow_redirects=False)
    assert resp.status_code == 307 and resp.headers["location"] == "/docs"
    assert httpx.get(f"{h.base_url}/ui/").status_code == 404


def test_a_failed_attempt_is_one_readable_line(herald: Herald, api: Api, receiver: Receiver) -> None:
    account = unique("acct-log")
    path = receiver.new_path("log-fail")
    receiver.script(path, default=500)
    api.account_subscription(account, receiver.url(path), ["log.failed"], max_retries=0)
    event_id = unique("evt-log")
    api.publish(account, {"id": event_id, "type": "log.failed", "data": {}})
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "dead"
    line = f"delivery {delivery['id']} (log.failed) to {receiver.url(path)} failed: HTTP 500; gave up"
    wait_until("the failure in the server log", lambda: line in herald.logs(2000), 10)


def test_json_log_carries_the_ids_and_debug_logs_each_success(
    herald_factory: Callable[..., Herald], receiver: Receiver
) -> None:
    h = herald_factory("sqlite", HERALD_LOG_FORMAT="json", HERALD_LOG_LEVEL="debug")
    account = unique("acct-json")
    ok, bad = receiver.new_path("json-ok"), receiver.new_path("json-bad")
    receiver.script(bad, default=503)
    good_sub = h.api.account_subscription(account, receiver.url(ok), ["j.ok"])
    bad_sub = h.api.account_subscription(account, receiver.url(bad), ["j.bad"], max_retries=0)
    h.api.publish(
        account, {"id": "e-ok", "type": "j.ok", "data": {}}, {"id": "e-bad", "type": "j.bad", "data": {}}
    )
    delivered = h.api.settled(account, event_id="e-ok")
    dead = h.api.settled(account, event_id="e-bad")

    def lines() -> list[dict[str, Any]]:
        assert h.api_proc is not None
        out = []
        for raw in h.api_proc.log_text().splitlines():
            if raw.startswith("{"):
                out.append(json.loads(raw))  # every log line is JSON (uvicorn's too)
            else:  # the startup banner is for people; no log record may use the text format
                assert not re.match(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR)", raw), raw
        return out

    def find(delivery_id: str) -> dict[str, Any] | None:
        return next((r for r in lines() if r.get("delivery_id") == delivery_id), None)

    success = wait_until("the success line", lambda: find(delivered["id"]), 10)
    assert success["level"] == "debug" and success["message"].startswith(f"delivered {delivered['id']}")
    assert (success["event_id"], success["subscription_id"], success["account_id"]) == (
        "e-ok", good_sub["id"], account,
    )  # fmt: skip
    failure = wait_until("the failure line", lambda: find(dead["id"]), 10)
    assert failure["level"] == "warning" and failure["status_code"] == 503
    assert (failure["event_id"], failure["subscription_id"], failure["account_id"]) == (
        "e-bad",
        bad_sub["id"],
        account,
    )
    datetime.fromisoformat(failure["time"].replace("Z", "+00:00"))
    assert any("Application startup complete" in r["message"] for r in lines())


def test_a_busy_port_fails_before_announcing_anything(herald: Herald) -> None:
    env = {
        **herald.env,
        "HERALD_ADMIN_TOKEN": "",
        "HERALD_DATABASE_URL": f"sqlite:///{herald.workdir}/other.db",
    }
    run = subprocess.run([HERALD_BIN, "serve"], env=env, capture_output=True, text=True, timeout=60)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "cannot listen on" in out and "--listen" in out
    assert "listening on" not in out and "admin token" not in out


def test_listen_under_the_admin_token_asks_for_an_account(herald: Herald) -> None:
    run = subprocess.run(
        [HERALD_BIN, "listen", "--server", herald.base_url, "--forward-to", "http://127.0.0.1:9/x"],
        env={**herald.env, "HERALD_TOKEN": herald.token, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "--account ACCOUNT" in out and "422" not in out


def test_event_types_speak_iso_8601_and_name_the_version_format(api: Api) -> None:
    name = unique("firsthour.type")
    schema = {"type": "object"}
    bad = api.request("POST", "/v1/event-types", json={"name": name, "version": "1.0", "schema": schema})
    error = assert_error(bad, 422, "validation")
    assert (
        "not MODEL-REVISION-ADDITION (e.g. 1-0-0)" in error["message"] and error["data"]["field"] == "version"
    )
    api.expect(201, "POST", "/v1/event-types", json={"name": name, "version": "1-0-0", "schema": schema})
    got = api.expect(200, "GET", f"/v1/event-types/{name}")
    assert isinstance(got["created_at"], str)
    assert datetime.fromisoformat(got["created_at"]).utcoffset() is not None


def test_a_liveperson_data_subscription_shows_no_secret(api: Api, receiver: Receiver) -> None:
    account = unique("acct-dt")
    cred = api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "dt", "scheme": "lp-signature"}
    )
    sub = api.account_subscription(
        account, receiver.url(receiver.new_path("dt")), ["AgentStateChangedEvent"],
        profile="liveperson-data", credential_id=cred["id"],
    )  # fmt: skip
    assert sub["secret"] is None  # its deliveries are signed with the credential
