"""`GET /v1/accounts/{account}/app-installations`: the account's app installations, cursor-paged."""

from __future__ import annotations

from e2e_harness import Api, Receiver, unique
from test_api import assert_error

CONTENT = "ms.MessagingEventNotification.ContentEvent"


def test_the_list_pages_newest_first_and_holds_only_app_installations(
    api: Api, receiver: Receiver, account: str
) -> None:
    url = f"/v1/accounts/{account}/app-installations"
    hooks = {CONTENT: {"endpoint": receiver.url(receiver.new_path("list"))}}
    made = [
        api.expect(201, "POST", url, json={"client_name": f"app{i}", "capabilities": {"webhooks": hooks}})
        for i in range(3)
    ]
    plain = api.create_application(unique("plain"))  # installed, but not from a manifest: not listed
    api.install(plain["id"], account)
    api.expect(201, "POST", f"/v1/accounts/{unique('acct-other')}/app-installations",
               json={"client_name": "elsewhere", "capabilities": {"webhooks": hooks}})  # fmt: skip

    first = api.expect(200, "GET", url, params={"limit": 2})
    assert first["next_cursor"]
    second = api.expect(200, "GET", url, params={"limit": 2, "cursor": first["next_cursor"]})
    assert second["next_cursor"] is None
    listed = first["data"] + second["data"]
    assert [i["id"] for i in listed] == [m["id"] for m in reversed(made)]
    for item, created in zip(listed, reversed(made), strict=True):
        assert item["manifest"] == created["manifest"]
        assert item["state"] == "UP" and item["state_changed_at"] is None
        assert "client_secret" not in item
    assert (
        assert_error(api.request("GET", url, params={"cursor": "garbage"}), 400, "bad_request")["data"][
            "field"
        ]
        == "cursor"
    )
    assert api.expect(200, "GET", f"/v1/accounts/{unique('acct-none')}/app-installations")["data"] == []
