"""Schemathesis against the live server's OpenAPI document: no generated request may get a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from e2e_harness import Herald

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
TIME_BUDGET = 20  # seconds of generation per backend
LONG_LIVED = r"^/v1/(inspect/bins/\{bin_id\}/stream|listen/sessions/\{session_id\}/requests)$"


def failures_section(output: str) -> str:
    """Schemathesis prints each failure (with a curl command to reproduce it) between banners."""
    match = re.search(r"^=+ (FAILURES|ERRORS) =+$(.*?)^=+ (WARNINGS|SUMMARY) =+$", output, re.M | re.S)
    return match.group(0)[:20000] if match else ""


def test_fuzzing_the_api_finds_no_server_errors(
    backend: str, herald_factory: Callable[..., Herald], tmp_path: Path
) -> None:
    # Its own deployment: the fuzzer creates subscriptions to arbitrary URLs and publishes to them.
    # Without the failed-auth limiter: the fuzzer's made-up client secrets would soon get it only 429s.
    # Sources the fuzzer creates are never consumed (the runner loads sources once, at start): their
    # made-up bus URLs must not send Herald connecting to arbitrary hosts.
    herald = herald_factory(backend, workers=1, HERALD_AUTH_FAILURE_LIMIT="0", HERALD_SOURCE_REFRESH="86400")
    cmd = [
        SCHEMATHESIS,
        "run",
        f"{herald.base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {herald.token}",
        "--max-examples",
        "40",
        "--max-time",
        str(TIME_BUDGET),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",  # CPython 3.11's ast.parse is not thread-safe; hypothesis calls it while generating
        "--seed",
        "20240501",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        "--suppress-health-check",
        "all",
        # Long-lived by design, so longer than any request timeout: the inspector's event stream (it never
        # ends while the bin lives) and the herald listen long poll (up to 25 s). Their errors and tenant
        # scoping are covered in test_inspect.py, test_listen.py and test_auth.py.
        "--exclude-path-regex",
        LONG_LIVED,
    ]
    run = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=TIME_BUDGET + 60, check=False
    )
    output = run.stdout + run.stderr
    tail = "\n".join(output.splitlines()[-60:])
    report = failures_section(output)
    assert run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{report}\n{tail}"
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= 100, f"schemathesis generated too little:\n{tail}"
    assert herald.api_proc is not None and herald.api_proc.alive
