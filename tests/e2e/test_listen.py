"""`herald listen` end to end: the real CLI against a real Herald (on PostgreSQL the deliveries are sent by
worker processes, not by the API process the CLI talks to), a real local receiver, real events."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from e2e_harness import HERALD_BIN, Api, Herald, Receiver, unique, wait_until
from standardwebhooks import Webhook
from test_api import assert_error


class Cli:
    """`herald listen` as a subprocess; its output collected line by line."""

    def __init__(self, herald: Herald, *args: str) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [HERALD_BIN, "listen", "--server", herald.base_url, *args],
            env={**herald.env, "HERALD_TOKEN": herald.token, "COLUMNS": "300"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        def probe() -> re.Match[str] | None:
            if self.popen.poll() is not None and not re.search(pattern, self.output()):
                raise AssertionError(f"herald listen exited {self.popen.returncode}:\n{self.output()}")
            return re.search(pattern, self.output())

        return wait_until(f"{pattern!r} in the output of herald listen", probe, timeout)

    def interrupt(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(15)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()


def listen_subscriptions(api: Api, account: str) -> list[dict[str, Any]]:
    rows = api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")["data"]
    return [s for s in rows if s["url"].startswith("herald-listen://")]


def test_listen_forwards_signed_deliveries_and_records_the_local_answer(
    herald: Herald, api: Api, receiver: Receiver, account: str
) -> None:
    path = receiver.new_path("listen")
    receiver.script(path, 500, default=200)  # the local endpoint fails once, then accepts
    cli = Cli(herald, "--forward-to", receiver.url(path), "--events", "listen.*", "--account", account)
    try:
        secret = cli.wait_for(r"signing secret: (whsec_\S+)").group(1)
        [sub] = listen_subscriptions(api, account)
        assert sub["event_types"] == ["listen.*"]

        event = unique("evt-listen")
        api.publish(account, {"id": event, "type": "listen.ping", "data": {"n": 1}})
        api.publish(account, {"id": unique("evt-other"), "type": "other.ping", "data": {}})  # not listened to
        delivery = api.settled(account, event_id=event, timeout=20)
        assert delivery["status"] == "delivered"
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
        assert delivery["attempt_log"][0]["error_kind"] == "bad_status"

        got = receiver.wait_for(path, 2)
        for request in got:
            payload = Webhook(secret).verify(request.body, request.headers)  # signed by Herald, untouched
            assert payload["data"] == {"n": 1} and payload["type"] == "listen.ping"
            assert request.headers["webhook-id"] == delivery["id"]
        assert len(receiver.requests(path)) == 2  # the other event type was not forwarded
        cli.wait_for(rf"listen\.ping\s+{delivery['id']}\s+→ 500")
        cli.wait_for(rf"listen\.ping\s+{delivery['id']}\s+→ 200")
    finally:
        code = cli.interrupt()
    assert code == 0, cli.output()
    assert listen_subscriptions(api, account) == []  # the session took its subscription with it


def test_listen_reports_a_refused_local_endpoint(herald: Herald, api: Api, account: str) -> None:
    cli = Cli(herald, "--forward-to", "http://127.0.0.1:9/nothing-here", "--account", account)
    try:
        cli.wait_for("Ready!")
        event = unique("evt-refused")
        api.publish(account, {"id": event, "type": "refused.ping", "data": {}})

        def refused_attempt() -> dict[str, Any] | None:
            rows = api.deliveries(account, event_id=event)
            if rows and rows[0]["attempts"] >= 1:
                return api.delivery(account, rows[0]["id"])
            return None

        detail = wait_until("an attempt", refused_attempt, 20)
        first = detail["attempt_log"][0]
        assert first["error_kind"] == "refused" and "herald listen" in first["error_message"]
    finally:
        assert cli.interrupt() == 0, cli.output()


def test_listen_api_is_scoped_and_refuses_strangers(herald: Herald, api: Api, account: str) -> None:
    session = api.expect(
        201, "POST", "/v1/listen/sessions", json={"account_id": account, "event_types": ["x"]}
    )
    token = api.expect(201, "POST", f"/v1/accounts/{unique('acct-x')}/tokens", json={"name": "x"})["token"]
    stranger = httpx.Client(
        base_url=herald.base_url, headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    with stranger:
        assert_error(stranger.get(f"/v1/listen/sessions/{session['id']}/requests?wait=0"), 404, "not_found")
        assert_error(stranger.delete(f"/v1/listen/sessions/{session['id']}"), 404, "not_found")
    assert api.expect(200, "GET", f"/v1/listen/sessions/{session['id']}/requests", params={"wait": 0}) == {
        "data": []
    }
    answer = api.request(
        "POST", f"/v1/listen/sessions/{session['id']}/requests/lrq_gone/response", json={"status_code": 200}
    )
    assert assert_error(answer, 404, "not_found")["data"]["field"] == "request_id"
    both = api.request("POST", f"/v1/listen/sessions/{session['id']}/requests/lrq_gone/response", json={})
    assert assert_error(both, 422, "validation")["data"]["field"] == "status_code"
    api.expect(204, "DELETE", f"/v1/listen/sessions/{session['id']}")
    assert listen_subscriptions(api, account) == []
    # Users cannot point a subscription at the relay scheme themselves.
    refused = api.request(
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        json={"url": f"herald-listen://{session['id']}", "event_types": ["x"]},
    )
    assert assert_error(refused, 422, "validation")["data"]["field"] == "url"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_vanished_cli_loses_its_session_and_subscription(
    herald_factory: Callable[..., Herald], backend: str, account: str
) -> None:
    h = herald_factory(backend, HERALD_LISTEN_SESSION_TTL="1")
    cli = Cli(h, "--forward-to", "http://127.0.0.1:9/x", "--account", account)
    try:
        cli.wait_for("Ready!")
        time.sleep(3)  # three session lifetimes: a CLI that is still polling keeps its session alive
        assert len(listen_subscriptions(h.api, account)) == 1
        cli.popen.kill()  # no goodbye: only the missing heartbeat tells
        cli.popen.wait(10)
        wait_until("the stale session to be swept", lambda: not listen_subscriptions(h.api, account), 15)
    finally:
        cli.interrupt()
