"""The bench's CPU figures: /proc parsing, what counts between two samples, and both bare-client ceilings
against the real bench receiver."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from herald.bench import cpu
from herald.bench.ceiling import CLIENTS, run_ceiling
from herald.bench.receiver import Receiver, ReceiverProtocol


def test_cpu_seconds_of_this_process_grows_with_work() -> None:
    before = cpu.cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    after = cpu.cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.05


def test_a_gone_process_has_no_cpu_figure() -> None:
    assert cpu.cpu_seconds(2**22 + 12345) is None  # above Linux's pid_max
    assert cpu.sample([os.getpid(), 2**22 + 12345]).keys() == {os.getpid()}


def test_spent_between_counts_new_processes_whole_and_drops_gone_ones() -> None:
    before = {1: 10.0, 2: 5.0, 3: 1.0}
    after = {1: 12.5, 2: 5.0, 4: 0.75}  # 3 exited; 4 started in between
    assert cpu.spent_between(before, after) == pytest.approx(2.5 + 0.0 + 0.75)


@pytest.mark.parametrize("client", CLIENTS)
async def test_ceiling_of_each_bare_client_reports_rate_and_cpu(client: str) -> None:
    app = Receiver()
    server = await asyncio.get_running_loop().create_server(lambda: ReceiverProtocol(app), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        run = await run_ceiling([f"http://127.0.0.1:{port}/hook/0"], 300, 8, "x" * 64, client=client)
    finally:
        server.close()
        await server.wait_closed()
    assert (run.client, run.requests, run.errors) == (client, 300, 0)
    assert app.count == 300
    assert run.requests_per_s > 0 and run.cpu_seconds > 0
