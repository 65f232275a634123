"""A real HTTP proxy on loopback for the egress proxy tests: Debian's tinyproxy, run in the foreground with
its own configuration, its log read back to see what it was asked to do."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

TINYPROXY = "/usr/bin/tinyproxy"


def needs_tinyproxy() -> pytest.MarkDecorator:
    if not Path(TINYPROXY).exists() and os.environ.get("CI"):
        raise RuntimeError("CI needs tinyproxy: apt-get install tinyproxy")
    return pytest.mark.skipif(not Path(TINYPROXY).exists(), reason="no tinyproxy: apt-get install tinyproxy")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tinyproxy:
    def __init__(self, workdir: Path, basic_auth: tuple[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "tinyproxy.log"
        conf = workdir / "tinyproxy.conf"
        conf.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\nMaxClients 200\n"
            "DisableViaHeader Yes\n" + (f"BasicAuth {basic_auth[0]} {basic_auth[1]}\n" if basic_auth else "")
        )
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)], stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"tinyproxy did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def requests(self) -> list[str]:
        """What the proxy was asked for, in order: `POST http://…` (absolute form) or `CONNECT host:port`."""
        return re.findall(r"Request \(file descriptor \d+\): (\S+ \S+)", self.log())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
