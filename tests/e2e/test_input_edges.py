"""Every input edge against a live server: oversized bodies read by clients that write before they read,
numbers receivers cannot parse, header values that would split a request, and bodies sent without the
JSON content type."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from e2e_harness import MAX_BODY_BYTES, Api, Herald, unique
from test_api import assert_error

MIB = 1024 * 1024


def urllib_post(url: str, body: bytes, token: str) -> tuple[int, dict[str, Any]]:
    """urllib writes the whole body before it reads a byte of the answer (as `requests` does)."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, {}
    except urllib.error.HTTPError as exc:
        import json

        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("size_mib", [2, 3, 16])
def test_oversized_bodies_get_413_even_when_the_client_writes_first(
    herald: Herald, account: str, size_mib: int
) -> None:
    url = f"{herald.base_url}/v1/accounts/{account}/events"
    body = b'{"type": "big.event", "data": {"blob": "' + b"x" * (size_mib * MIB) + b'"}}'
    outcomes: list[str] = []
    for _ in range(20):
        try:
            status, answer = urllib_post(url, body, herald.token)
            outcomes.append(f"{status} {answer.get('error', {}).get('type')}")
        except OSError as exc:  # Broken pipe / Connection reset: the answer was lost
            outcomes.append(f"{type(exc).__name__}: {exc}")
    assert outcomes == ["413 payload_too_large"] * 20, outcomes
    assert herald.api.deliveries(account) == []


def test_an_oversized_body_beyond_the_drain_limit_is_cut_off_not_read_forever(herald: Herald) -> None:
    """The drain is bounded: a client announcing a huge body is answered or cut off, never served."""
    import socket

    host, port = herald.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/accounts/a/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000000000000\r\n\r\n"
        )
        sent = 0
        chunk = b"x" * MIB
        with pytest.raises(OSError):
            while sent < 200 * MIB:  # DRAIN_LIMIT is 64 MiB: the server stops reading well before
                sock.sendall(chunk)
                sent += len(chunk)
            raise AssertionError("the server read 200 MiB of a refused body")


def publish_raw(api: Api, account: str, raw: bytes) -> Any:
    return api.request(
        "POST", f"/v1/accounts/{account}/events", content=raw, headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"type": "n.e", "data": {"x": NaN}}', "data.x"),
        (b'{"type": "n.e", "data": {"x": {"y": [1, Infinity]}}}', "data.x.y.1"),
        (b'{"type": "n.e", "data": {"x": -Infinity}}', "data.x"),
        (b'{"type": "n.e", "data": {"x": 1e999}}', "data.x"),
        (b'{"type": "n.e", "data": {"x": -1.5E+400}}', "data.x"),
        (b'{"type": "n.e", "data": {"big": 1' + b"0" * 400 + b".5}}", "data.big"),
        (b'{"type": "n.e", "data": {"n": 1180591620717411303424}}', "data.n"),  # 2**70
        (
            b'{"events": [{"type": "n.e", "data": {}}, {"type": "n.e", "data": {"v": NaN}}]}',
            "events.1.data.v",
        ),
    ],
    ids=["nan", "infinity-nested", "minus-infinity", "1e999", "-1.5e400", "400-digits", "2**70", "batch"],
)
def test_numbers_receivers_cannot_read_are_refused_naming_the_field(
    api: Api, account: str, raw: bytes, field: str
) -> None:
    error = assert_error(publish_raw(api, account, raw), 422, "validation")
    assert error["data"]["field"] == field, error
    assert error["message"].startswith(f"{field}: "), error
    assert api.deliveries(account) == []


def test_numbers_that_only_look_suspect_are_accepted(api: Api, account: str) -> None:
    """Strings spelling NaN, tiny exponents and long digit strings are data, not refused numbers."""
    raw = (
        b'{"type": "n.e", "data": {"s": "NaN Infinity 1e999", "tiny": 1e-400, "max": 1.7976931348623157e308,'
        b' "id": "12345678901234567890123", "u64": 18446744073709551615, "i64": -9223372036854775808}}'
    )
    resp = publish_raw(api, account, raw)
    assert resp.status_code == 202, resp.text


def test_unreadable_numbers_are_refused_in_every_json_body(api: Api, account: str) -> None:
    """One rule for every JSON body: subscription filters and custom event type schemas too."""
    raw = b'{"url": "https://x.example/h", "event_types": ["a.b"], "filter": {"n": {"$gt": Infinity}}}'
    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert assert_error(resp, 422, "validation")["data"]["field"] == "filter.n.$gt"
    name = unique("edge.type").replace("-", "_")
    raw = b'{"name": "%s", "version": "1-0-0", "schema": {"type": "number", "maximum": NaN}}' % name.encode()
    resp = api.request("POST", "/v1/event-types", content=raw, headers={"content-type": "application/json"})
    assert assert_error(resp, 422, "validation")["data"]["field"] == "schema.maximum"
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scheme": "api-key", "key": "abcdefgh\r\nx-injected: 1"}, "key"),
        ({"scheme": "api-key", "key": "abcdefgh\nsecond"}, "key"),
        ({"scheme": "api-key", "key": "abcdefgh\rsecond"}, "key"),
        ({"scheme": "api-key", "key": "abc\tdefgh"}, "key"),
        ({"scheme": "api-key", "key": "abcdefgh\x7f"}, "key"),
        ({"scheme": "api-key", "key": "abcdefgh\x1b[2J"}, "key"),
        ({"scheme": "api-key", "key": " abcdefgh"}, "key"),
        ({"scheme": "bearer", "token": "tok-abcdefgh\r\nx-injected: 1"}, "token"),
        ({"scheme": "bearer", "token": "tok-abcdefgh\x00"}, "token"),
        ({"scheme": "bearer", "token": "tok-abcdéfgh"}, "token"),
    ],
    ids=[
        "crlf",
        "lf",
        "cr",
        "tab",
        "del",
        "escape",
        "leading-space",
        "bearer-crlf",
        "bearer-nul",
        "bearer-utf8",
    ],
)
def test_header_values_with_control_characters_are_refused_at_creation(
    api: Api, account: str, body: dict[str, Any], field: str
) -> None:
    resp = api.request("POST", f"/v1/accounts/{account}/credentials", json={"name": "c", **body})
    error = assert_error(resp, 422, "validation")
    assert error["data"]["field"] == field, error
    assert api.expect(200, "GET", f"/v1/accounts/{account}/credentials")["data"] == []


def test_header_values_are_checked_on_rotation_too(api: Api, account: str) -> None:
    created = api.expect(
        201,
        "POST",
        f"/v1/accounts/{account}/credentials",
        json={"name": "c", "scheme": "api-key", "key": "a good key with spaces"},
    )
    rotate = f"/v1/accounts/{account}/credentials/{created['id']}/rotate"
    resp = api.request("POST", rotate, json={"key": "abcdefgh\r\nx-injected: 1"})
    assert assert_error(resp, 422, "validation")["data"]["field"] == "key"
    api.expect(200, "POST", rotate, json={"key": "another-good-key"})


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", None], ids=["form", "text", "none"]
)
def test_a_json_route_without_the_json_content_type_says_what_to_send(
    herald: Herald, account: str, content_type: str | None
) -> None:
    import httpx

    headers = {"authorization": f"Bearer {herald.token}"}
    if content_type:
        headers["content-type"] = content_type
    url = f"{herald.base_url}/v1/accounts/{account}/events"
    resp = httpx.post(url, content=b'{"type": "ct.event", "data": {}}', headers=headers, timeout=10)
    error = assert_error(resp, 415, "unsupported_media_type")
    assert "content-type: application/json" in error["message"], error
    assert error["data"]["field"] == "content-type", error
    headers["content-type"] = "application/json; charset=utf-8"
    assert httpx.post(url, content=b'{"type": "ct.event", "data": {}}', headers=headers).status_code == 202


def test_the_body_limit_still_holds_just_under_it(herald: Herald, account: str) -> None:
    url = f"{herald.base_url}/v1/accounts/{account}/events"
    small = b'{"type": "big.event", "data": {"blob": "' + b"x" * (MAX_BODY_BYTES - 100) + b'"}}'
    assert urllib_post(url, small, herald.token)[0] == 202


def test_a_client_that_expects_100_continue_gets_the_413_without_sending_the_body(herald: Herald) -> None:
    """Reading the body would make the server send `100 Continue` and invite the upload it refuses."""
    import socket

    host, port = herald.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/accounts/a/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"expect: 100-continue\r\ncontent-length: %d\r\n\r\n" % (16 * MIB)
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
