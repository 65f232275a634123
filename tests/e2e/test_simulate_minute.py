"""`herald simulate` for one minute against a real `herald serve` (SQLite), with real receivers for all
three families: LivePerson Data Transporter (liveperson-data, bearer credential), LivePerson Connector (an
app installation from the manifest, with time-to-live retries: ordered per conversation) and LiveChat
(standard profile). Every published event is delivered: counted per subscription through the API."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

from e2e_harness import HERALD_BIN, Herald, Receiver, unique, wait_until

from herald.domain.catalog import CATALOG

DURATION_S = 60
RATE = 40


def types_of(family: str) -> list[str]:
    return sorted(name for name, spec in CATALOG.items() if spec.family == family)


def subscribe(herald: Herald, receiver: Receiver, account: str) -> dict[str, dict[str, Any]]:
    """One subscription per family; returns {label: {"ids": [...], "path": ...}}."""
    api = herald.api
    out: dict[str, dict[str, Any]] = {}
    cred = api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "sim", "scheme": "bearer"}
    )
    path = receiver.new_path("sim-data")
    sub = api.account_subscription(
        account,
        receiver.url(path),
        types_of("liveperson-data"),
        profile="liveperson-data",
        credential_id=cred["id"],
    )
    out["liveperson-data"] = {"ids": [sub["id"]], "path": path}
    path = receiver.new_path("sim-livechat")
    sub = api.account_subscription(account, receiver.url(path), types_of("livechat"))
    out["livechat"] = {"ids": [sub["id"]], "path": path}
    path = receiver.new_path("sim-connector")
    hooks: dict[str, Any] = {"retry": {"retention_time": 3600}}
    hooks.update({t: {"endpoint": receiver.url(path)} for t in types_of("liveperson-connector")})
    app = api.expect(
        201,
        "POST",
        f"/v1/accounts/{account}/app-installations",
        json={"client_name": unique("sim-app"), "capabilities": {"webhooks": hooks}},
    )
    out["liveperson-connector"] = {
        "ids": list(app["subscription_ids"].values()),
        "path": path,
        "app": app["id"],
    }
    return out


def test_a_simulated_minute_is_all_delivered(
    herald_factory: Callable[..., Herald], receiver: Receiver
) -> None:
    herald = herald_factory("sqlite", HERALD_LIVEPERSON_DRAIN_PERIOD="1", HERALD_LIVEPERSON_TTL_BACKOFF="0.2")
    api = herald.api
    prefix = unique("simmin") + "-"
    accounts = [f"{prefix}1", f"{prefix}2"]
    subs = {account: subscribe(herald, receiver, account) for account in accounts}

    done = subprocess.run(
        [HERALD_BIN, "simulate", "--server", herald.base_url, "--duration", str(DURATION_S),
         "--rate", str(RATE), "--accounts", "2", "--agents", "3", "--seed", "7", "--account-prefix", prefix],
        env={**os.environ, "HERALD_ADMIN_TOKEN": herald.token},
        capture_output=True,
        text=True,
        timeout=DURATION_S + 60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"published (\d+) events \((\d+) duplicates, (\d+) failed requests", done.stdout)
    assert match, done.stdout + done.stderr
    published, duplicates, failed = (int(g) for g in match.groups())
    # At least half the nominal rate even on a loaded machine (the rate itself: test_simulate.py).
    assert published >= RATE * DURATION_S * 0.5, done.stdout
    assert duplicates == 0 and failed == 0, done.stdout

    def counts() -> dict[tuple[str, str], tuple[int, int]]:
        """(account, family) -> (deliveries created, deliveries delivered)."""
        out = {}
        for account, families in subs.items():
            for family, info in families.items():
                rows = [d for sub_id in info["ids"] for d in api.deliveries(account, subscription_id=sub_id)]
                out[(account, family)] = (len(rows), sum(d["status"] == "delivered" for d in rows))
        return out

    def drained() -> dict[tuple[str, str], tuple[int, int]] | None:
        now = counts()
        return now if all(made == delivered for made, delivered in now.values()) else None

    final = wait_until("the queue to drain", drained, timeout=30, interval=1.0)
    # Every published event fanned out to exactly one subscription of its account (the families
    # partition the types), and every delivery was delivered.
    assert sum(made for made, _ in final.values()) == published, final
    assert all(made > 0 for made, _ in final.values()), final  # every family was exercised
    for account, families in subs.items():
        for family, info in families.items():
            made, _ = final[(account, family)]
            got = receiver.requests(info["path"])
            ids = {r.headers.get("x-herald-delivery-id") or r.headers.get("webhook-id") for r in got}
            assert len(ids) == made, (account, family, len(ids), made)
        state = api.expect(
            200, "GET", f"/v1/accounts/{account}/app-installations/{families['liveperson-connector']['app']}"
        )
        assert state["state"] == "UP", state
