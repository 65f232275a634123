"""Keys that cannot silently diverge: a second process started in another directory, against the same
database, refuses to start (naming HERALD_SECRET_KEY / HERALD_SECRET_KEY_FILE) unless its keys open the
secrets the first process sealed, and never makes itself a new key file."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from e2e_harness import HERALD_BIN, Herald, Proc, free_port, unique, wait_until

from herald.store.secretbox import SecretBox


def run_refused(herald: Herald, where: Path, command: str, **env: str) -> str:
    """Run `herald <command>` in `where` and expect it to refuse to start; return what it printed."""
    where.mkdir(exist_ok=True)
    proc_env = {**herald.env, "HERALD_SECRET_KEY": "", "HERALD_LISTEN": f"127.0.0.1:{free_port()}", **env}
    done = subprocess.run(
        [HERALD_BIN, command], cwd=where, env=proc_env, capture_output=True, text=True, timeout=60
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, f"herald {command} exited {done.returncode}:\n{out[-3000:]}"
    assert "HERALD_SECRET_KEY" in out and "HERALD_SECRET_KEY_FILE" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return out


def test_a_process_in_another_directory_refuses_keys_that_cannot_open_the_secrets(
    backend: str, herald_factory: Callable[..., Herald], tmp_path: Path
) -> None:
    # The first deployment runs without HERALD_SECRET_KEY: it makes herald.key in its directory.
    first = herald_factory(backend, workers=0, HERALD_SECRET_KEY="")
    key_file = first.workdir / "herald.key"
    assert key_file.exists()
    account = unique("acct-keys")
    first.api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "c", "scheme": "bearer"}
    )

    elsewhere = tmp_path / "elsewhere"
    for command in ("worker", "api"):
        out = run_refused(first, elsewhere, command)  # no key at all
        assert "no key is configured" in out, out
        assert not (elsewhere / "herald.key").exists(), "a new key was generated for a sealed database"
    out = run_refused(first, elsewhere, "worker", HERALD_SECRET_KEY=SecretBox.generate_key())
    assert "cannot decrypt" in out, out
    (elsewhere / "wrong.key").write_text(SecretBox.generate_key())
    run_refused(first, elsewhere, "worker", HERALD_SECRET_KEY_FILE=str(elsewhere / "wrong.key"))

    # The right key, by file or by value (rotated: a new key first), starts.
    for env in (
        {"HERALD_SECRET_KEY_FILE": str(key_file)},
        {"HERALD_SECRET_KEY": f"{SecretBox.generate_key()},{key_file.read_text().strip()}"},
    ):
        proc_env = {**first.env, "HERALD_SECRET_KEY": "", **env}
        log = elsewhere / f"worker-{len(list(elsewhere.glob('worker-*.log')))}.log"
        proc = Proc("worker-elsewhere", ["worker"], proc_env, elsewhere, log).start()
        try:
            wait_until("the worker to start", lambda p=proc: "worker started" in p.log_text(), 30)
            assert proc.alive
        finally:
            proc.stop()
    assert not (elsewhere / "herald.key").exists()
