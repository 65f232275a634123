"""The end-to-end harness: real Herald processes, a real HTTP receiver on loopback, a small API client.

`deployment(backend, workdir)` runs Herald as users do:
  - sqlite:      `herald serve` on a fresh file
  - postgresql:  a fresh database, `herald api`, then N `herald worker` processes
with short timeouts and retry delays (see the constants below) and loopback targets allowed. Every process
logs to a file in its workdir; processes get SIGTERM, then SIGKILL, when the deployment ends.

`Receiver` is an aiohttp server in a background thread that records every request (path, headers, raw
body, arrival time) and answers from a per-path script, a default, or a handler function.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web
from cryptography.fernet import Fernet


def _load_root_conftest() -> Any:
    """tests/conftest.py is not importable as `tests.conftest` (no package); load it by path instead."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_herald_tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_root = _load_root_conftest()
BACKENDS: list[str] = _root.BACKENDS
REQUIRE_PG: bool = _root.REQUIRE_PG
create_pg_database: Callable[[], str] = _root.create_pg_database
drop_pg_database: Callable[[str], None] = _root.drop_pg_database
pg_available: Callable[[], bool] = _root.pg_available
skip_or_fail_without_pg: Callable[[], None] = _root._skip_or_fail_without_pg

HERALD_BIN = str(Path(sys.executable).with_name("herald"))
if not Path(HERALD_BIN).exists():  # pragma: no cover - a venv without the console script next to python
    HERALD_BIN = shutil.which("herald") or "herald"

T = TypeVar("T")

# Timings every deployment uses unless a test overrides them.
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.0
RETRY_SCHEDULE = (0.2, 0.2, 0.2)
LIVEPERSON_RETRY_INTERVAL = 0.3
LEASE_SECONDS = 5.0
MAX_BODY_BYTES = 1024 * 1024


# --------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, probe: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Call `probe` until it returns something truthy; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; last value: {value!r}")
        time.sleep(interval)


_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}{next(_counter)}"


# -------------------------------------------------------------------------------------------- receiver


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    method: str
    headers: dict[str, str]  # names lower-cased
    raw_headers: list[tuple[str, str]]
    body: bytes
    at: float  # time.monotonic() when the request arrived
    wall: float  # time.time() when the request arrived
    status: int = 0  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Received, int], Reply]


class Receiver:
    """A real aiohttp server on 127.0.0.1 in a background thread. Records every request; answers each path
    from a scripted reply list (then a default), or from a handler function `(request, n) -> Reply`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._handlers: dict[str, Handler] = {}
        self._counts: dict[str, int] = {}
        self._active = 0  # requests being answered (sleeping on a delay) right now
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="e2e-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the receiver did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        rec = Received(
            path=request.path,
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw_headers=[(k, v) for k, v in request.headers.items()],
            body=body,
            at=time.monotonic(),
            wall=time.time(),
        )
        with self._lock:
            n = self._counts.get(rec.path, 0)
            self._counts[rec.path] = n + 1
            handler = self._handlers.get(rec.path)
            script = self._scripts.get(rec.path)
            scripted = script.pop(0) if script else self._defaults.get(rec.path, Reply())
            self._requests.append(rec)
        reply = handler(rec, n) if handler is not None else scripted
        rec.status = reply.status
        if reply.delay:
            self._active += 1
            try:
                await asyncio.sleep(reply.delay)
            finally:
                self._active -= 1
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    # -- scripting

    def new_path(self, prefix: str = "hook") -> str:
        return "/" + unique(prefix)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply | int, default: Reply | int | None = None) -> None:
        as_reply = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        with self._lock:
            self._scripts[path] = as_reply
            if default is not None:
                self._defaults[path] = default if isinstance(default, Reply) else Reply(default)

    def handle(self, path: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[path] = handler

    # -- inspection

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def in_flight(self) -> int:
        """Requests the receiver is still answering (their replies are delayed)."""
        return self._active

    def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `path` has received at least `count` requests; return them all."""
        wait_until(f"{count} request(s) at {path}", lambda: len(self.requests(path)) >= count, timeout)
        return self.requests(path)

    def close(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# ------------------------------------------------------------------------------------------ API client


class UnexpectedStatus(AssertionError):
    pass


class Api:
    """A thin synchronous client of the Herald API (admin token)."""

    def __init__(self, base_url: str, token: str, verify: ssl.SSLContext | bool = True) -> None:
        self.base_url = base_url
        self.token = token
        self.http = httpx.Client(
            base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=30.0, verify=verify
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        if resp.status_code != status:
            got = f"{resp.status_code}: {resp.text[:2000]}"
            raise UnexpectedStatus(f"{method} {path}: expected {status}, got {got}")
        return resp.json() if resp.content else None

    # -- resources

    def create_application(self, name: str = "app") -> dict[str, Any]:
        return self.expect(201, "POST", "/v1/applications", json={"name": name})

    def install(self, app_id: str, account_id: str, **fields: Any) -> dict[str, Any]:
        return self.expect(
            201, "POST", f"/v1/applications/{app_id}/installations", json={"account_id": account_id, **fields}
        )

    def account_subscription(self, account_id: str, url: str, event_types: list[str], **fields: Any) -> Any:
        body = {"url": url, "event_types": event_types, **fields}
        return self.expect(201, "POST", f"/v1/accounts/{account_id}/subscriptions", json=body)

    def app_subscription(self, app_id: str, url: str, event_types: list[str], **fields: Any) -> Any:
        body = {"url": url, "event_types": event_types, **fields}
        return self.expect(201, "POST", f"/v1/applications/{app_id}/subscriptions", json=body)

    def publish(self, account_id: str, *events: dict[str, Any]) -> dict[str, Any]:
        body: Any = events[0] if len(events) == 1 else {"events": list(events)}
        return self.expect(202, "POST", f"/v1/accounts/{account_id}/events", json=body)

    def deliveries(self, account_id: str, **params: Any) -> list[dict[str, Any]]:
        """Every delivery matching the filters (follows next_cursor, at most 100 pages)."""
        out: list[dict[str, Any]] = []
        params = {"limit": 250, **{k: v for k, v in params.items() if v is not None}}
        for _ in range(100):
            page = self.expect(200, "GET", f"/v1/accounts/{account_id}/deliveries", params=params)
            out.extend(page["data"])
            if not page["next_cursor"]:
                return out
            params["cursor"] = page["next_cursor"]
        raise AssertionError("more than 100 pages of deliveries")

    def delivery(self, account_id: str, delivery_id: str) -> dict[str, Any]:
        return self.expect(200, "GET", f"/v1/accounts/{account_id}/deliveries/{delivery_id}")

    def resend(self, account_id: str, delivery_id: str) -> dict[str, Any]:
        return self.expect(202, "POST", f"/v1/accounts/{account_id}/deliveries/{delivery_id}/resend")

    def settled(
        self,
        account_id: str,
        *,
        event_id: str,
        subscription_id: str | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Wait until the one delivery of an event (to a subscription) is no longer pending; its detail."""

        def probe() -> dict[str, Any] | None:
            rows = self.deliveries(account_id, event_id=event_id, subscription_id=subscription_id)
            assert len(rows) <= 1, f"expected one delivery of {event_id}, found {len(rows)}: {rows}"
            if rows and rows[0]["status"] != "pending":
                return self.delivery(account_id, rows[0]["id"])
            return None

        return wait_until(f"delivery of {event_id} to settle", probe, timeout, interval=0.1)


# ---------------------------------------------------------------------------------------- deployments


class Proc:
    """One herald process, logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            log.write(
                f"\n===== {time.strftime('%H:%M:%S')} starting: herald {' '.join(self.args)}\n".encode()
            )
            log.flush()
            self.popen = subprocess.Popen(
                [HERALD_BIN, *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, no grace: the crash under test."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Herald:
    backend: str
    database_url: str
    base_url: str
    token: str
    env: dict[str, str]
    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    api_proc: Proc | None = None
    workers: list[Proc] = field(default_factory=list)
    _worker_seq: itertools.count[int] = field(default_factory=itertools.count)
    _api: Api | None = None
    ca_file: str | None = None  # the CA that signed the API's certificate, when it serves HTTPS

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.base_url, self.token, verify=self.verify)
        return self._api

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2, verify=self.verify).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, proc: Proc, timeout: float = 30.0) -> None:
        def probe() -> bool:
            if not proc.alive:
                raise AssertionError(f"{proc.name} exited early:\n{tail(proc.log_text(), 60)}")
            return self.healthy()

        wait_until(f"{proc.name} to answer /healthz", probe, timeout, interval=0.05)

    def start_api(self) -> Proc:
        cmd = "serve" if self.backend == "sqlite" else "api"
        proc = Proc(cmd, [cmd], self.env, self.workdir, self.workdir / f"{cmd}.log").start()
        self.procs.append(proc)
        self.api_proc = proc
        self.wait_ready(proc)
        return proc

    def start_worker(self, timeout: float = 30.0) -> Proc:
        n = next(self._worker_seq)
        log_path = self.workdir / f"worker-{n}.log"
        proc = Proc(f"worker-{n}", ["worker"], self.env, self.workdir, log_path).start()
        self.procs.append(proc)
        self.workers.append(proc)

        def started() -> bool:
            if not proc.alive:
                raise AssertionError(f"{proc.name} exited early:\n{tail(proc.log_text(), 60)}")
            log = proc.log_text()
            # Up, or up and waiting for its database (the master-key check waits for it first).
            return "worker started" in log or "database unavailable while checking the master keys" in log

        wait_until(f"{proc.name} to start", started, timeout)
        return proc

    def restart_api(self) -> Proc:
        assert self.api_proc is not None
        self.api_proc.kill()
        return self.start_api()

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self, lines: int = 150) -> str:
        seen: set[Path] = set()
        parts = []
        for proc in self.procs:
            if proc.log_path in seen:
                continue
            seen.add(proc.log_path)
            parts.append(f"----- {proc.log_path} (last {lines} lines)\n{tail(proc.log_text(), lines)}")
        return "\n".join(parts)


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


LIVE_DEPLOYMENTS: list[Herald] = []


def profile_header_names(raw_headers: list[tuple[str, str]]) -> set[str]:
    """The names of the headers Herald chose, as sent: the reqwest transport (the default) also sends
    `Accept: */*`, which reqwest adds to every request without an Accept and cannot leave out
    (docs/adr/0011-native-http-transport.md)."""
    return {k for k, v in raw_headers if not (k.lower() == "accept" and v == "*/*")}


def herald_env(database_url: str, listen: str, token: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        {
            "HERALD_DATABASE_URL": database_url,
            "HERALD_LISTEN": listen,
            "HERALD_ADMIN_TOKEN": token,
            "HERALD_SECRET_KEY": Fernet.generate_key().decode(),
            "HERALD_ALLOW_PRIVATE_TARGETS": "1",
            "HERALD_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "HERALD_READ_TIMEOUT": str(READ_TIMEOUT),
            "HERALD_RETRY_SCHEDULE": ",".join(str(d) for d in RETRY_SCHEDULE),
            "HERALD_LIVEPERSON_RETRY_INTERVAL": str(LIVEPERSON_RETRY_INTERVAL),
            "HERALD_LEASE_SECONDS": str(LEASE_SECONDS),
            "HERALD_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "HERALD_POLL_INTERVAL": "0.02",
            # Tests keep a listen session across minutes (the cross-tenant walk); expiry has its own test.
            "HERALD_LISTEN_SESSION_TTL": "600",
            "HERALD_SHUTDOWN_GRACE": "2",
            "HERALD_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def deployment(
    backend: str, workdir: Path, workers: int = 2, ca_file: str | None = None, **env_overrides: str
) -> Iterator[Herald]:
    """A running Herald on `backend`: `herald serve` (sqlite) or `herald api` + N workers (postgresql).
    With HERALD_TLS_CERT/KEY in `env_overrides` the API serves HTTPS; `ca_file` is the CA to trust."""
    if backend == "postgresql":
        skip_or_fail_without_pg()
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir}/herald.db" if backend == "sqlite" else create_pg_database()
    port = free_port()
    token = "hrd_test_" + uuid.uuid4().hex
    env = herald_env(database_url, f"127.0.0.1:{port}", token, **env_overrides)
    scheme = "https" if env.get("HERALD_TLS_CERT") else "http"
    base_url = f"{scheme}://127.0.0.1:{port}"
    herald = Herald(backend, database_url, base_url, token, env, workdir, ca_file=ca_file)
    LIVE_DEPLOYMENTS.append(herald)
    try:
        herald.start_api()  # also migrates the schema, so workers start on a ready database
        if backend == "postgresql":
            for _ in range(workers):
                herald.start_worker()
        yield herald
    finally:
        herald.stop()
        LIVE_DEPLOYMENTS.remove(herald)
        if backend == "postgresql":
            drop_pg_database(database_url)
