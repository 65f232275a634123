"""Chaos machinery on top of e2e_harness: a private PostgreSQL cluster that a test may stop and start, a
deployment on a database URL of one's choosing, a publisher that publishes until told to stop, a flapping
endpoint on a seeded schedule, and the bookkeeping that compares what the receiver saw with the API.

Everything here is real: PostgreSQL binaries, `herald` processes, sockets on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from e2e_harness import (
    LIVE_DEPLOYMENTS,
    REQUIRE_PG,
    Api,
    Herald,
    Received,
    Reply,
    free_port,
    herald_env,
    wait_until,
)


def delivery_id_of(req: Received) -> str:
    """The stable delivery id every attempt carries: `webhook-id` (standard profile), else LivePerson's."""
    return req.headers.get("webhook-id") or req.headers["x-herald-delivery-id"]


# ------------------------------------------------------------------------------ a private PostgreSQL


def postgres_bindir() -> Path | None:
    """Where `initdb` and `postgres` live: `pg_config --bindir`, else the newest /usr/lib/postgresql/*."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: int(p.split("/")[-2]), reverse=True)]
    for c in candidates:
        if (c / "initdb").is_file() and (c / "postgres").is_file():
            return c
    return None


def _cannot(reason: str) -> NoReturn:
    """Skip, or fail where PostgreSQL is mandatory (CI sets HERALD_TEST_REQUIRE_POSTGRES=1)."""
    if REQUIRE_PG:
        pytest.fail(f"HERALD_TEST_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port of 127.0.0.1, owned by this test, so that the test
    may stop it (SIGINT: fast shutdown) and start it again without disturbing the shared server on 5432.

    PostgreSQL refuses to run as root; as root, the cluster's directory belongs to the `postgres` user and
    initdb/postgres run as that user (Popen's `user=`, so the pid we signal is the postmaster itself).
    `fsync=off`: the cluster only ever stops cleanly (fast shutdown writes everything out), and the
    machine is shared; durability against power loss is not what these tests are about."""

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            _cannot("PostgreSQL server binaries (initdb, postgres) not found for a private cluster")
        self.bindir = bindir
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                _cannot("running as root and there is no `postgres` user to run a private cluster as")
            self.user = "postgres"
        # Not under pytest's tmp_path: as root that is 0700 and the postgres user could not enter it.
        self.dir = Path(tempfile.mkdtemp(prefix="herald-chaos-pg-"))
        if self.user is not None:
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.stops = 0

    def _run_as(self) -> dict[str, Any]:
        return {"user": self.user, "group": self.user} if self.user else {}

    def init(self) -> None:
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "-N", "--no-instructions"],
            check=True,
            capture_output=True,
            cwd=self.dir,
            **self._run_as(),
        )

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                    "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                    "-c", "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,
                **self._run_as(),
            )
        self.starts += 1
        isready = [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"]

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"postgres exited early:\n{self.log_text()[-3000:]}")
            return subprocess.run(isready, check=False).returncode == 0

        wait_until("the private PostgreSQL to accept connections", ready, timeout, interval=0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): sessions are disconnected, open transactions roll back, data is kept."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.stops += 1

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"herald_chaos_{uuid.uuid4().hex[:8]}"

        async def create() -> None:
            conn = await asyncpg.connect(self.url())
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url(name)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


# ------------------------------------------------------------------- a deployment on a given database


@contextlib.contextmanager
def deployment_on(
    database_url: str, workdir: Path, workers: int = 2, **env_overrides: str
) -> Iterator[Herald]:
    """Like e2e_harness.deployment for PostgreSQL (`herald api` + N workers), on a database the caller
    owns (here: the private cluster, which the caller also removes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = "hrd_test_" + uuid.uuid4().hex
    env = herald_env(database_url, f"127.0.0.1:{port}", token, **env_overrides)
    herald = Herald("postgresql", database_url, f"http://127.0.0.1:{port}", token, env, workdir)
    LIVE_DEPLOYMENTS.append(herald)
    try:
        herald.start_api()
        for _ in range(workers):
            herald.start_worker()
        yield herald
    finally:
        herald.stop()
        LIVE_DEPLOYMENTS.remove(herald)


# --------------------------------------------------------------------------------------- publisher


class Publisher(threading.Thread):
    """Publishes small batches until stopped, as a careful producer does: a batch that fails (5xx or no
    answer) is published again with the same ids until it gets 202. Only batches answered 202 count as
    accepted. Events carry a sequence number and, round robin, one of `keys` as ordering key."""

    def __init__(
        self,
        herald: Herald,
        account: str,
        event_type: str,
        *,
        batch: int = 3,
        pause: float = 0.3,
        keys: Sequence[str] = (),
        retry_for: float = 60.0,
    ) -> None:
        super().__init__(name="chaos-publisher", daemon=True)
        self.herald = herald
        self.account = account
        self.event_type = event_type
        self.batch = batch
        self.pause = pause
        self.keys = list(keys)
        self.retry_for = retry_for
        self.accepted: list[str] = []  # event ids, in publish order
        self.key_of: dict[str, str | None] = {}
        self.failures: Counter[str] = Counter()  # why a publish had to be repeated: "503", "transport"
        self._halt = threading.Event()
        self.error: BaseException | None = None
        self._seq = 0

    def stop(self) -> None:
        self._halt.set()

    def finish(self, timeout: float = 90.0) -> None:
        self.stop()
        self.join(timeout)
        assert not self.is_alive(), "the publisher did not finish"
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        client = httpx.Client(
            base_url=self.herald.base_url,
            headers={"authorization": f"Bearer {self.herald.token}"},
            timeout=10,
        )
        try:
            while not self._halt.is_set():
                events = [self._event() for _ in range(self.batch)]
                self._publish(client, events)
                for e in events:
                    self.accepted.append(e["id"])
                    self.key_of[e["id"]] = e.get("ordering_key")
                self._halt.wait(self.pause)
        except BaseException as exc:
            self.error = exc
        finally:
            client.close()

    def _event(self) -> dict[str, Any]:
        n = self._seq
        self._seq += 1
        event_id = f"chaos-{n:06d}"
        event: dict[str, Any] = {"id": event_id, "type": self.event_type, "data": {"n": n, "event": event_id}}
        if self.keys:
            event["ordering_key"] = self.keys[n % len(self.keys)]
        return event

    def _publish(self, client: httpx.Client, events: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                resp = client.post(f"/v1/accounts/{self.account}/events", json={"events": events})
                if resp.status_code == 202:
                    return
                if resp.status_code < 500:
                    raise AssertionError(f"publish refused: {resp.status_code} {resp.text[:500]}")
                self.failures[str(resp.status_code)] += 1
            except httpx.TransportError as exc:
                self.failures[f"transport: {type(exc).__name__}"] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"could not publish a batch within {self.retry_for:.0f} s")
            time.sleep(0.2)


# ------------------------------------------------------------------------------- flapping endpoint

OK, FAIL, TIMEOUT = "ok", "500", "timeout"


@dataclass(frozen=True)
class Phase:
    mode: str
    start: float
    end: float


def flap_schedule(seed: int, seconds: float, *, max_bad_run: float = 5.0) -> list[Phase]:
    """Phases of 0.5 to 2.5 s, each answering 200, 500 or too late (a timeout), drawn from `seed`. A run of
    bad phases longer than `max_bad_run` seconds is cut short by a good one, so that a retry schedule of
    known length can outlast every outage. After `seconds`, the endpoint answers 200."""
    rng = random.Random(seed)
    phases: list[Phase] = []
    t, bad = 0.0, 0.0
    while t < seconds:
        mode = rng.choices([OK, FAIL, TIMEOUT], weights=[4, 3, 3])[0]
        length = round(rng.uniform(0.5, 2.5), 2)
        if mode != OK and bad + length > max_bad_run:
            mode = OK
        bad = 0.0 if mode == OK else bad + length
        phases.append(Phase(mode, t, min(t + length, seconds)))
        t += length
    return phases


@dataclass
class Receipt:
    delivery_id: str
    mode: str  # what the endpoint did: OK (200), FAIL (500) or TIMEOUT (answered long after the timeout)
    at: float  # time.monotonic() at arrival
    data: Any


@dataclass
class FlappingEndpoint:
    """A Receiver handler: answers by the phase of the schedule the request arrives in, and records
    (delivery id, what it did) for every request."""

    schedule: list[Phase]
    hold: float  # how long a TIMEOUT reply is held back: far beyond Herald's read timeout
    started: float = 0.0
    receipts: list[Receipt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.started = time.monotonic()

    def mode_at(self, at: float) -> str:
        if not self.started:
            return OK
        t = at - self.started
        for phase in self.schedule:
            if phase.start <= t < phase.end:
                return phase.mode
        return OK

    def __call__(self, req: Received, _: int) -> Reply:
        mode = self.mode_at(req.at)
        with self._lock:
            self.receipts.append(Receipt(delivery_id_of(req), mode, req.at, req.json()["data"]))
        if mode == FAIL:
            return Reply(500, body=b"flapping")
        if mode == TIMEOUT:
            # Whatever this would say, Herald has given up long before; 504 so that it could never count
            # as a success if it did arrive.
            return Reply(504, delay=self.hold, body=b"too late")
        return Reply(200)

    def by_delivery(self) -> dict[str, list[Receipt]]:
        with self._lock:
            out: dict[str, list[Receipt]] = defaultdict(list)
            for r in sorted(self.receipts, key=lambda r: r.at):
                out[r.delivery_id].append(r)
            return out


def expected_attempt(mode: str) -> tuple[int | None, str | None]:
    """What the API must list for an attempt the endpoint answered in `mode`: (status_code, error_kind)."""
    return {OK: (200, None), FAIL: (500, "bad_status"), TIMEOUT: (None, "read_timeout")}[mode]


def delivery_details(api: Api, account: str, ids: Sequence[str], threads: int = 6) -> list[dict[str, Any]]:
    """GET every delivery's detail (with its attempt log), a few at a time."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda d: api.delivery(account, d), ids))


# --------------------------------------------------------------------------------- bookkeeping


def receipts_by_delivery(requests: Sequence[Received]) -> dict[str, list[Received]]:
    out: dict[str, list[Received]] = defaultdict(list)
    for r in sorted(requests, key=lambda r: r.at):
        out[delivery_id_of(r)].append(r)
    return out


@dataclass
class Disruption:
    kind: str  # "sigkill worker-3", "postgres down"
    start: float  # time.monotonic()
    end: float  # when service was back (for a kill: the moment of the kill)


def unexplained_duplicates(
    receipts: dict[str, list[Received]], disruptions: Sequence[Disruption], lease: float
) -> list[tuple[str, float, float]]:
    """Repeated receipts of a delivery that no disruption accounts for.

    At-least-once delivery repeats a delivery only when the worker that sent it could not record the
    outcome before its lease ran out: it was killed, or the database was away. So each repeat needs a
    disruption of its own (one disruption repeats a delivery at most once) that began while the earlier
    receipt's lease still ran (no earlier than `lease` before that receipt: the claim precedes the send)
    and that began before the repeat."""
    bad = []
    for delivery_id, got in receipts.items():
        used: set[int] = set()
        for first, again in itertools.pairwise(got):
            cause = next(
                (
                    i
                    for i, d in enumerate(disruptions)
                    if i not in used and d.start - lease <= first.at <= d.end and d.start <= again.at
                ),
                None,
            )
            if cause is None:
                bad.append((delivery_id, first.at, again.at))
            else:
                used.add(cause)
    return bad


def wait_all_arrived(
    herald: Herald, account: str, receipts: Callable[[], set[str]], accepted: set[str], timeout: float
) -> None:
    """Wait until every accepted event was received with a 200 and no delivery is pending any more."""

    def arrived() -> bool:
        return accepted <= receipts()

    try:
        wait_until("every accepted event to arrive", arrived, timeout, interval=0.25)
    except AssertionError as exc:
        missing = sorted(accepted - receipts())
        lost = f"{len(missing)} of {len(accepted)} accepted events never arrived: {missing[:20]}"
        raise AssertionError(lost) from exc
    wait_until(
        "every delivery to settle",
        lambda: not herald.api.deliveries(account, status="pending"),
        timeout=30,
        interval=0.5,
    )


@dataclass
class LossReport:
    accepted: int
    deliveries_received: int
    duplicate_receipts: int  # receipts beyond the first, summed over deliveries
    duplicated_deliveries: int  # deliveries received more than once
    unexplained: list[tuple[str, float, float]]

    def __str__(self) -> str:
        return (
            f"{self.accepted} events accepted, all delivered; {self.duplicate_receipts} duplicate receipts "
            f"over {self.duplicated_deliveries} deliveries"
        )


def check_nothing_lost(
    herald: Herald,
    requests: Callable[[], list[Received]],
    account: str,
    publisher: Publisher,
    disruptions: Sequence[Disruption],
    lease: float,
    timeout: float = 60.0,
) -> LossReport:
    """Every event the publisher got a 202 for was received (answered 200) and its one delivery row says
    `delivered`; repeated receipts are counted and must each straddle a disruption."""
    accepted = set(publisher.accepted)
    assert len(accepted) == len(publisher.accepted), "the publisher reused an event id"

    def arrived() -> set[str]:
        return {str(r.json()["data"]["event"]) for r in requests() if r.status == 200}

    wait_all_arrived(herald, account, arrived, accepted, timeout)
    deliveries = herald.api.deliveries(account)
    by_event = Counter(d["event_id"] for d in deliveries)
    assert set(by_event) == accepted, "delivery rows do not match the accepted events"
    assert max(by_event.values()) == 1, "an event got more than one delivery row"
    not_delivered = [d for d in deliveries if d["status"] != "delivered"]
    assert not not_delivered, f"{len(not_delivered)} deliveries not delivered: {not_delivered[:5]}"

    receipts = receipts_by_delivery(requests())
    assert set(receipts) == {d["id"] for d in deliveries}
    counts = [len(got) for got in receipts.values()]
    return LossReport(
        accepted=len(accepted),
        deliveries_received=len(receipts),
        duplicate_receipts=sum(n - 1 for n in counts),
        duplicated_deliveries=sum(1 for n in counts if n > 1),
        unexplained=unexplained_duplicates(receipts, disruptions, lease),
    )
