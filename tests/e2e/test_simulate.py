"""`herald simulate` against a live server: every event it says it published reaches the receiver."""

from __future__ import annotations

import os
import re
import subprocess

from dashboard_client import Ui
from e2e_harness import HERALD_BIN, Herald, Receiver, unique, wait_until


def simulate(herald: Herald, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERALD_ADMIN_TOKEN": token or herald.token}
    return subprocess.run(
        [HERALD_BIN, "simulate", "--server", herald.base_url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_simulate_publishes_a_stream_that_is_all_delivered(herald: Herald, receiver: Receiver) -> None:
    api = herald.api
    prefix = unique("sim") + "-"
    accounts = [f"{prefix}1", f"{prefix}2"]
    paths = {account: receiver.new_path("sim") for account in accounts}
    for account in accounts:
        api.account_subscription(account, receiver.url(paths[account]), ["*"])

    done = simulate(
        herald,
        "--duration",
        "5",
        "--rate",
        "40",
        "--accounts",
        "2",
        "--agents",
        "3",
        "--seed",
        "42",
        "--account-prefix",
        prefix,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"published (\d+) events", done.stdout)
    assert match, done.stdout + done.stderr
    published = int(match.group(1))
    assert published >= 40, done.stdout  # 5 s at 40/s, with a slow start
    assert "0 failed requests" in done.stdout

    def all_arrived() -> bool:
        return sum(len(receiver.requests(p)) for p in paths.values()) >= published

    wait_until("every simulated event to arrive", all_arrived, timeout=20, interval=0.2)
    arrived = [r.json() for p in paths.values() for r in receiver.requests(p)]
    assert len(arrived) == published
    deliveries = [d for account in accounts for d in api.deliveries(account)]
    assert len(deliveries) == published
    wait_until(
        "every delivery to be recorded delivered",
        lambda: all(d["status"] == "delivered" for a in accounts for d in api.deliveries(a)),
        timeout=10,
        interval=0.2,
    )


def test_simulate_shows_http_errors_instead_of_crashing(herald: Herald) -> None:
    # Long enough that events are certainly generated; the command stops at the first refusal anyway.
    done = simulate(herald, "--duration", "5", "--rate", "50", token="wrong-token")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "published 0 events" in done.stdout
    assert "HTTP 401" in done.stderr
    # It gave up at the first refusal (one request per account at most), not retrying for 5 s.
    failed = int(re.search(r"(\d+) failed requests", done.stdout).group(1))  # type: ignore[union-attr]
    assert 1 <= failed <= 2, done.stdout


def test_simulate_keeps_its_rate_and_subscribes_its_accounts(herald: Herald, receiver: Receiver) -> None:
    prefix = unique("simsub") + "-"
    path = receiver.new_path("simsub")
    args = ("--duration", "8", "--rate", "60", "--accounts", "2", "--agents", "2", "--account-prefix", prefix)
    done = simulate(herald, *args, "--subscribe", receiver.url(path))
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"published (\d+) events .* in ([\d.]+) s, ([\d.]+) events/s", done.stdout)
    assert match, done.stdout
    published, rate = int(match.group(1)), float(match.group(3))
    assert rate >= 0.9 * 60, done.stdout  # within 10 % of the rate asked, from the first second
    assert "published " in done.stderr and "delivered " in done.stderr  # the live line
    wait_until("every simulated event to arrive", lambda: len(receiver.requests(path)) >= published, 30, 0.2)
    subs = {
        a: herald.api.expect(200, "GET", f"/v1/accounts/{a}/subscriptions")["data"]
        for a in (prefix + "1", prefix + "2")
    }
    assert all([s["name"] for s in rows] == ["herald simulate"] for rows in subs.values()), subs
    ui = Ui(herald)  # the simulated accounts are on the dashboard's account list
    try:
        assert ui.sign_in(herald.token).status_code == 303
        listed = ui.get("/ui/accounts").text
        assert all(f"/ui/a/{account}/subscriptions" in listed for account in subs), listed[-2000:]
    finally:
        ui.close()

    # A second run reuses the demo subscriptions instead of adding more.
    again = simulate(herald, "--duration", "1", *args[2:], "--subscribe", receiver.url(path))
    assert again.returncode == 0, again.stdout + again.stderr
    for account, rows in subs.items():
        now = herald.api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")["data"]
        assert [s["id"] for s in now] == [s["id"] for s in rows]
