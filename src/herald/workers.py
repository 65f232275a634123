"""`herald serve --workers N` on PostgreSQL: N `herald worker` processes beside the API process.

A Python process delivers on one core (one event loop); the API and N dispatchers in their own processes
use N + 1. The pool starts the workers with the serving process's settings, starts a worker again when one
exits while serving (logged), and on shutdown sends SIGTERM (each worker finishes its in-flight sends and
hands the rest back), then SIGKILL after the grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

from herald.config import Settings

log = logging.getLogger("herald.workers")

_WORKER = "import sys; sys.argv = ['herald', 'worker']; from herald.cli import main; main()"
RESTART_CHECK = 1.0  # seconds between looks at the workers
PR_SET_PDEATHSIG = 1


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a worker needs to run with the serving process's settings (command-line options
    and --dev included, which are not in the environment)."""
    env = dict(os.environ)
    env["HERALD_DATABASE_URL"] = settings.database_url
    if settings.allow_private_targets:
        env["HERALD_ALLOW_PRIVATE_TARGETS"] = "1"
    return env


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when the serving process dies without stopping it (SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class WorkerPool:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", _WORKER], env=worker_env(self.settings), preexec_fn=_die_with_parent
        )

    def start(self) -> None:
        with self._lock:
            self.processes = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, name="herald-workers", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.wait(RESTART_CHECK):
            with self._lock:
                for i, proc in enumerate(self.processes):
                    code = proc.poll()
                    if code is not None and not self._stopping.is_set():
                        log.warning(
                            "worker %d (pid %d) exited with %d; starting it again", i + 1, proc.pid, code
                        )
                        self.processes[i] = self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for proc in self.processes:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
            for proc in self.processes:
                try:
                    proc.wait(self.settings.shutdown_grace + 5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


@contextlib.contextmanager
def worker_pool(settings: Settings, count: int) -> Iterator[WorkerPool]:
    pool = WorkerPool(settings, count)
    pool.start()
    try:
        yield pool
    finally:
        pool.stop()
