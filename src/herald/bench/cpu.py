"""CPU time of processes, read from /proc: what Herald's processes (and PostgreSQL's backends) spent
during a phase, so a run reports CPU µs per delivery beside deliveries/s. Wall-clock throughput on a
shared machine swings with the neighbours' load; CPU per delivery mostly does not."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of `pid` and of its children it has waited for; None when it is gone (or there is
    no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def sample(pids: list[int]) -> dict[int, float]:
    """CPU seconds per pid, for the pids still running."""
    return {pid: spent for pid in pids if (spent := cpu_seconds(pid)) is not None}


def spent_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two samples. A pid first seen in `after` started in between, so all its
    time counts; a pid gone from `after` is lost (its last stretch cannot be read)."""
    return sum(total - before.get(pid, 0.0) for pid, total in after.items())
