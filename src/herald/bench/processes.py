"""Subprocesses of a bench run (receiver, Herald API/serve/workers) and the throw-away PostgreSQL database.

Children run in their own sessions so a Ctrl-C reaches only the bench, which then stops them itself:
SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

TERM_GRACE = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            self.log_file.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class ProcessGroup:
    """Starts children with their output in log files under `workdir`; `stop_all` ends every one."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Child:
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("wb")
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            log_file.close()
            raise
        child = Child(name, process, log_path, log_file)
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        """Raise RuntimeError, with the end of its log, when a child has exited."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise RuntimeError(f"{child.name} exited with status {code}:\n{child.tail()}")

    def stop_all(self, grace: float = TERM_GRACE) -> None:
        for child in self.children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=5)
            finally:
                child.log_file.close()
        self.children.clear()


def python_argv(module_code: str) -> list[str]:
    return [sys.executable, "-c", module_code]


def herald_argv(*args: str) -> list[str]:
    """Run the `herald` CLI of this interpreter, whatever PATH says."""
    code = f"import sys; sys.argv = ['herald', *{list(args)!r}]; from herald.cli import main; main()"
    return python_argv(code)


def receiver_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "herald.bench.receiver", "--host", "127.0.0.1", "--port", str(port)]


def _driver_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def create_database(admin_url: str) -> tuple[str, str]:
    """CREATE DATABASE herald_bench_<random> on the server of `admin_url`; return (name, its URL)."""
    name = f"herald_bench_{secrets.token_hex(6)}"
    engine = create_async_engine(_driver_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return name, with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(_driver_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def backend_connections(admin_url: str, name: str) -> int:
    """How many sessions are connected to database `name` (to see that every worker is up)."""
    engine = create_async_engine(_driver_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def backend_pids(admin_url: str, name: str) -> list[int]:
    """The server processes of the sessions connected to database `name` (PostgreSQL runs one per
    session), to read their CPU time from /proc when the server is on this machine."""
    engine = create_async_engine(_driver_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            return [int(row[0]) for row in rows]
    finally:
        await engine.dispose()
