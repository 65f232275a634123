"""Render a bench result: a rich table for people, a JSON document for scripts."""

from __future__ import annotations

import sys
from dataclasses import asdict

import orjson
from rich.console import Console
from rich.table import Table

from herald.bench.results import BenchResult

TARGETS = {"sqlite": 5_000, "postgresql": 10_000}  # deliveries/s the design asks of each backend
LATENCY_TARGET_MS = 100.0  # p99 publish→delivered at a steady 1,000 events/s
CPU_TARGET_US = 90.0  # Herald's CPU per delivery, all its processes summed (issue 13)


def to_json(result: BenchResult) -> bytes:
    doc = asdict(result)
    doc["ok"] = result.ok
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def print_json(result: BenchResult) -> None:
    sys.stdout.buffer.write(to_json(result) + b"\n")
    sys.stdout.flush()


def _ms(d: dict[str, float]) -> str:
    return f"p50 {d['p50']:.1f} · p95 {d['p95']:.1f} · p99 {d['p99']:.1f} · max {d['max']:.1f} ms"


def _yes(flag: bool) -> str:
    return "[green]yes[/green]" if flag else "[red]no[/red]"


def _dead(flag: bool) -> str:
    return "[red]some[/red]" if flag else "none"


def print_table(result: BenchResult, console: Console) -> None:
    o = result.options
    workers = f", {o['workers']} worker(s)" if result.backend == "postgresql" else " (herald serve)"
    workers += f", transport {o['transport']}" if o.get("transport") else ""
    table = Table(
        title=f"herald bench — {result.backend}{workers}, fan-out {o['fanout']}, "
        f"{result.machine['cpus']} CPUs, Herald {result.herald_version}",
        show_header=True,
        header_style="bold",
    )
    source = result.machine.get("source")
    if isinstance(source, dict):
        table.caption = f"commit {str(source['commit'])[:12]}" + (
            " + local changes" if source["modified"] else ""
        )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for c in (result.ceiling, result.native_ceiling):
        if c is None:
            continue
        table.add_section()
        table.add_row(
            f"[bold]ceiling[/bold] (bare {c.client} client)",
            f"{c.requests_per_s:,.0f} req/s · {c.cpu_us_per_request:.0f} µs CPU/req",
        )
        table.add_row("  requests · in flight · body", f"{c.requests:,} · {c.concurrency} · {c.body_bytes} B")
        if c.errors or c.received != c.requests:
            table.add_row("  errors · received", f"{c.errors} · {c.received:,}")
    if (t := result.throughput) is not None:
        target = TARGETS.get(result.backend, 0)
        table.add_section()
        table.add_row(
            "[bold]Herald throughput[/bold] (publish → last delivery received)",
            f"[bold]{t.deliveries_per_s:,.0f} deliveries/s[/bold]",
        )
        recorded = (
            f"{t.recorded_deliveries_per_s:,.0f} deliveries/s ({t.recorded_seconds:.2f} s)"
            if t.recorded_deliveries_per_s is not None and t.recorded_seconds is not None
            else "[red]not reached[/red]"
        )
        table.add_row("  to last delivery recorded (nothing pending)", recorded)
        table.add_row("  target", f"{target:,} deliveries/s")
        if result.ratio is not None:
            table.add_row("  [bold]ratio Herald / aiohttp ceiling[/bold]", f"[bold]{result.ratio:.2f}[/bold]")
        if t.herald_cpu_us_per_delivery is not None:
            table.add_row(
                "  [bold]CPU per delivery[/bold]: Herald's processes",
                f"[bold]{t.herald_cpu_us_per_delivery:.0f} µs[/bold] (target ≤ {CPU_TARGET_US:g})",
            )
        if t.postgres_cpu_us_per_delivery is not None:
            table.add_row(
                "  CPU per delivery: PostgreSQL backends", f"{t.postgres_cpu_us_per_delivery:.0f} µs"
            )
        table.add_row(
            "  events · deliveries received / expected", f"{t.events:,} · {t.received:,} / {t.expected:,}"
        )
        table.add_row("  publish", f"{t.publish_events_per_s:,.0f} events/s ({t.publish_seconds:.2f} s)")
        table.add_row("  publish request", _ms(t.publish_request_ms))
        table.add_row("  publish → delivered", _ms(t.latency_ms))
        table.add_row(
            "  complete · duplicates · dead", f"{_yes(t.complete)} · {t.duplicates} · {_dead(t.dead)}"
        )
    if (lat := result.latency) is not None:
        table.add_section()
        table.add_row(
            f"[bold]latency[/bold] at {lat.rate:,} events/s for {lat.duration:g} s",
            f"[bold]p99 {lat.latency_ms['p99']:.1f} ms[/bold] (target ≤ {LATENCY_TARGET_MS:g})",
        )
        table.add_row("  publish → delivered", _ms(lat.latency_ms))
        table.add_row("  achieved rate · events", f"{lat.achieved_rate:,.0f}/s · {lat.events:,}")
        table.add_row(
            "  late ticks · waited for a slot", f"{lat.late_ticks} / {lat.ticks} · {lat.saturated_ticks}"
        )
        table.add_row("  publish request", _ms(lat.publish_request_ms))
        recorded = (
            f"{lat.recorded_after_s:.2f} s" if lat.recorded_after_s is not None else "[red]not reached[/red]"
        )
        table.add_row("  last delivery → nothing pending", recorded)
        table.add_row(
            "  complete · duplicates · dead", f"{_yes(lat.complete)} · {lat.duplicates} · {_dead(lat.dead)}"
        )
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
