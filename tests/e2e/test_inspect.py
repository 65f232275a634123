"""The inspector against a live Herald: bins capture any request at their public URL, the API lists and
searches them, the live stream (SSE) shows them as they arrive, and a real delivery's signature checks out
(and a tampered copy does not)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from e2e_harness import Api, Herald, unique, wait_until
from test_api import assert_error


def new_bin(api: Api, account: str, **fields: Any) -> dict[str, Any]:
    return api.expect(201, "POST", "/v1/inspect/bins", json={"account_id": account, **fields})


def pat(api: Api, account: str) -> Api:
    token = api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={"name": "inspect"})["token"]
    return Api(api.base_url, token)


class Stream:
    """Reads a server-sent event stream in a thread; `events` collects (event, data) pairs."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.status = 0
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=60))
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self._open.wait(10), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        event = "message"
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                self.status = resp.status_code
                self._open.set()
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.append((event, json.loads(line.split(":", 1)[1])))
                        event = "message"
        except httpx.HTTPError:
            pass
        finally:
            self._open.set()

    def requests(self) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == "request"]

    def close(self) -> None:
        self._client.close()


def test_bin_captures_any_request_and_answers_as_configured(api: Api, account: str) -> None:
    b = new_bin(
        api,
        account,
        name="orders",
        response={
            "status": 201,
            "body": '{"thanks":true}',
            "headers": {"Content-Type": "application/json", "X-Bin": "1"},
        },
    )
    assert b["url"].endswith(f"/inspect/bins/{b['id']}/hook") and b["response"]["status"] == 201
    first = httpx.post(
        b["url"] + "/orders/7?source=shop", json={"order": "A-17"}, headers={"X-Trace": "Zebra"}
    )
    assert (first.status_code, first.json(), first.headers["x-bin"]) == (201, {"thanks": True}, "1")
    assert httpx.get(b["url"]).status_code == 201
    assert httpx.request("DELETE", b["url"] + "/x", content=b"\xff\xfe").status_code == 201

    rows = api.expect(200, "GET", f"/v1/inspect/bins/{b['id']}/requests")["data"]
    assert [r["method"] for r in rows] == ["DELETE", "GET", "POST"]  # newest first
    post = rows[2]
    assert (post["path"], post["query"], post["body"]) == ("/orders/7", "source=shop", '{"order":"A-17"}')
    assert ["x-trace", "Zebra"] in post["headers"] and post["source"] == "127.0.0.1"
    assert (rows[0]["body_encoding"], rows[0]["body"]) == ("base64", "//4=")

    def search(**params: str) -> list[str]:
        found = api.expect(200, "GET", f"/v1/inspect/bins/{b['id']}/requests", params=params)["data"]
        return [r["id"] for r in found]

    assert search(q="zebra") == [post["id"]]
    assert search(q="A-17") == [post["id"]]
    assert search(method="get") == [rows[1]["id"]]
    assert search(since="2000-01-01T00:00:00Z") == [r["id"] for r in rows]
    assert search(until="2000-01-01T00:00:00Z") == []
    assert api.expect(200, "GET", f"/v1/inspect/bins/{b['id']}/requests/{post['id']}")["id"] == post["id"]

    # Another account's token: the bin does not exist for it; an unknown bin's capture URL is a 404 too.
    stranger = pat(api, unique("acct-stranger"))
    assert_error(stranger.request("GET", f"/v1/inspect/bins/{b['id']}/requests"), 404, "not_found")
    assert_error(httpx.post(b["url"].replace(b["id"], "bin_nosuchbin")), 404, "not_found")
    # The configured answer can change; the account's own token sees the bin; its lifecycle ends with DELETE.
    changed = api.expect(200, "PATCH", f"/v1/inspect/bins/{b['id']}", json={"response": {"status": 503}})
    assert changed["response"] == {"status": 503, "body": "", "headers": {}, "delay": 0.0}
    assert changed["name"] == "orders"
    assert httpx.put(b["url"]).status_code == 503
    mine = pat(api, account)
    assert b["id"] in [x["id"] for x in mine.expect(200, "GET", "/v1/inspect/bins")["data"]]
    mine.expect(204, "DELETE", f"/v1/inspect/bins/{b['id']}")
    assert_error(httpx.post(b["url"]), 404, "not_found")


def test_bin_api_errors(api: Api, account: str) -> None:
    error = assert_error(api.request("POST", "/v1/inspect/bins", json={}), 422, "validation")
    assert error["data"]["field"] == "account_id"  # the admin must name the account
    bad = api.request("POST", "/v1/inspect/bins", json={"account_id": account, "response": {"status": 99}})
    assert assert_error(bad, 422, "validation")["data"]["field"] == "response.status"
    b = new_bin(api, account)
    verify = api.request("POST", f"/v1/inspect/bins/{b['id']}/requests/req_none/verify", json={})
    assert assert_error(verify, 422, "validation")["message"]
    missing = api.request(
        "POST", f"/v1/inspect/bins/{b['id']}/requests/req_none/verify", json={"credential_id": "x"}
    )
    assert assert_error(missing, 404, "not_found")["data"]["field"] == "request_id"
    assert_error(httpx.get(f"{api.base_url}/inspect/bins/{b['id']}/stream?ticket=1.x"), 401, "authentication")


def test_live_stream_shows_requests_as_they_arrive(api: Api, account: str) -> None:
    b = new_bin(api, account)
    httpx.post(b["url"], content=b"before")  # captured before the stream opened: not streamed
    stream = Stream(
        f"{api.base_url}/v1/inspect/bins/{b['id']}/stream", {"authorization": f"Bearer {api.token}"}
    )
    ticket = api.expect(201, "POST", f"/v1/inspect/bins/{b['id']}/tickets")
    browser = Stream(ticket["stream_url"])  # the HTML page's way: no header, a short-lived ticket
    try:
        assert stream.status == 200 and browser.status == 200
        for n in range(3):
            httpx.post(b["url"] + f"/live/{n}", content=f"live {n}".encode())
        for s in (stream, browser):
            wait_until("three streamed requests", lambda s=s: len(s.requests()) >= 3, 10)
            assert [r["body"] for r in s.requests()] == ["live 0", "live 1", "live 2"]
            assert [r["path"] for r in s.requests()] == ["/live/0", "/live/1", "/live/2"]
    finally:
        stream.close()
        browser.close()


def test_signature_of_a_real_delivery_is_verified(api: Api, account: str) -> None:
    b = new_bin(api, account)
    cred = api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "lp", "scheme": "lp-signature"}
    )
    sub = api.account_subscription(account, b["url"] + "/hook", ["inspect.verify"], credential_id=cred["id"])
    event = unique("evt-verify")
    api.publish(account, {"id": event, "type": "inspect.verify", "data": {"amount": 42}})
    assert api.settled(account, event_id=event)["status"] == "delivered"
    [captured] = api.expect(200, "GET", f"/v1/inspect/bins/{b['id']}/requests")["data"]
    path = f"/v1/inspect/bins/{b['id']}/requests/{captured['id']}/verify"

    by_sub = api.expect(200, "POST", path, json={"subscription_id": sub["id"]})
    assert by_sub["matched"] is True and by_sub["against"] == {
        "subscription_id": sub["id"],
        "profile": "standard",
    }
    checked = {c["header"]: c for c in by_sub["checks"]}
    assert set(checked) == {"webhook-signature", "x-liveperson-signature", "x-liveperson-client-id"}
    received = dict(captured["headers"])
    assert checked["webhook-signature"]["received"] == received["webhook-signature"]
    assert checked["webhook-signature"]["expected"] == received["webhook-signature"]
    by_cred = api.expect(200, "POST", path, json={"credential_id": cred["id"]})
    assert by_cred["matched"] is True and by_cred["against"]["scheme"] == "lp-signature"

    # The same headers over a tampered body: nothing matches, and the answer says what was expected.
    headers = {k: v for k, v in captured["headers"] if k.lower() not in ("host", "content-length")}
    httpx.post(b["url"], content=captured["body"].replace("42", "43").encode(), headers=headers)
    tampered = next(
        r
        for r in api.expect(200, "GET", f"/v1/inspect/bins/{b['id']}/requests")["data"]
        if r["id"] != captured["id"]
    )
    path = f"/v1/inspect/bins/{b['id']}/requests/{tampered['id']}/verify"
    bad = api.expect(200, "POST", path, json={"subscription_id": sub["id"]})
    assert bad["matched"] is False
    signature = next(c for c in bad["checks"] if c["header"] == "webhook-signature")
    assert signature["matched"] is False and signature["received"] == received["webhook-signature"]
    assert signature["expected"] and signature["expected"] != signature["received"]
    assert api.expect(200, "POST", path, json={"credential_id": cred["id"]})["matched"] is False


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bin_limits(herald_factory: Callable[..., Herald], backend: str) -> None:
    h = herald_factory(
        backend, HERALD_INSPECT_MAX_BINS="1", HERALD_INSPECT_MAX_BODY="8", HERALD_INSPECT_MAX_REQUESTS="2"
    )
    account = unique("acct-limits")
    b = new_bin(h.api, account)
    error = assert_error(
        h.api.request("POST", "/v1/inspect/bins", json={"account_id": account}), 409, "conflict"
    )
    assert error["data"] == {"field": "account_id", "limit": 1}
    for n in range(3):
        httpx.post(b["url"], content=f"request number {n}".encode())
    rows = h.api.expect(200, "GET", f"/v1/inspect/bins/{b['id']}/requests")["data"]
    assert [(r["body"], r["body_size"], r["truncated"]) for r in rows] == [
        ("request ", 16, True),
        ("request ", 16, True),
    ]
    assert len(rows) == 2  # the oldest went
    assert_error(httpx.post(b["url"], content=b"x" * (2 * 1024 * 1024)), 413, "payload_too_large")
