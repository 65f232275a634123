"""`herald serve --workers N` on PostgreSQL: the API process plus N worker processes that deliver; a worker
that dies is started again; SIGTERM ends them all. On SQLite the option is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
from e2e_harness import (
    HERALD_BIN,
    Api,
    Receiver,
    create_pg_database,
    drop_pg_database,
    free_port,
    herald_env,
    skip_or_fail_without_pg,
    unique,
    wait_until,
)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_with_workers_delivers_from_worker_processes(receiver: Receiver, tmp_path: Path) -> None:
    skip_or_fail_without_pg()
    database_url = create_pg_database()
    port, token = free_port(), "hrd_test_" + uuid.uuid4().hex
    env = herald_env(database_url, f"127.0.0.1:{port}", token)
    base_url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [HERALD_BIN, "serve", "--workers", "2"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until("serve to answer /healthz", lambda: proc.poll() is None and _healthy(base_url), 120)
        workers = wait_until(
            "two worker processes", lambda: len(_children(proc.pid)) == 2 and _children(proc.pid), 30
        )
        api = Api(base_url, token)
        account, path = unique("acct"), receiver.new_path("workers")
        api.account_subscription(account, receiver.url(path), ["w.event"])
        event_id = unique("evt")
        api.publish(account, {"id": event_id, "type": "w.event", "data": {}})
        assert api.settled(account, event_id=event_id)["status"] == "delivered"
        assert len(receiver.wait_for(path, 1)) == 1

        # A worker that dies is replaced; deliveries go on.
        os.kill(workers[0], signal.SIGKILL)
        wait_until(
            "the worker to be replaced",
            lambda: len(kids := _children(proc.pid)) == 2 and workers[0] not in kids,
            30,
        )
        second = unique("evt")
        api.publish(account, {"id": second, "type": "w.event", "data": {}})
        assert api.settled(account, event_id=second)["status"] == "delivered"
        api.close()

        survivors = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        for pid in survivors:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        drop_pg_database(database_url)


def test_serve_workers_needs_postgresql(tmp_path: Path) -> None:
    port = free_port()
    env = herald_env(f"sqlite:///{tmp_path}/h.db", f"127.0.0.1:{port}", "hrd_test_x")
    done = subprocess.run(
        [HERALD_BIN, "serve", "--workers", "2"], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"needs PostgreSQL" in done.stderr
