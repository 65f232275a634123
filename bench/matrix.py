"""Run `herald bench --json` several times with the same options and print the medians as a Markdown row.

    python bench/matrix.py --runs 3 --save bench/results.jsonl -- --backend postgresql --workers 2

Everything after `--` goes to `herald bench` unchanged. Each run's JSON document is appended to --save
(one line each) so the raw figures stay next to the medians. On a shared machine, --quiet waits (up to
--quiet-wait seconds) before each run until the CPUs were at least that idle over three seconds (Linux).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from herald.bench.machine import cpu_idle

FIGURES: list[tuple[str, tuple[str, ...], str]] = [
    ("ceiling req/s", ("ceiling", "requests_per_s"), "{:,.0f}"),
    ("ceiling CPU µs/req", ("ceiling", "cpu_us_per_request"), "{:.0f}"),
    ("pyreqwest ceiling req/s", ("native_ceiling", "requests_per_s"), "{:,.0f}"),
    ("pyreqwest ceiling CPU µs/req", ("native_ceiling", "cpu_us_per_request"), "{:.0f}"),
    ("deliveries/s (received)", ("throughput", "deliveries_per_s"), "{:,.0f}"),
    ("deliveries/s (recorded)", ("throughput", "recorded_deliveries_per_s"), "{:,.0f}"),
    ("ratio", ("ratio",), "{:.2f}"),
    ("Herald CPU µs/delivery", ("throughput", "herald_cpu_us_per_delivery"), "{:.0f}"),
    ("PostgreSQL CPU µs/delivery", ("throughput", "postgres_cpu_us_per_delivery"), "{:.0f}"),
    ("publish events/s", ("throughput", "publish_events_per_s"), "{:,.0f}"),
    ("throughput p50 ms", ("throughput", "latency_ms", "p50"), "{:,.0f}"),
    ("throughput p99 ms", ("throughput", "latency_ms", "p99"), "{:,.0f}"),
    ("latency p50 ms", ("latency", "latency_ms", "p50"), "{:.1f}"),
    ("latency p95 ms", ("latency", "latency_ms", "p95"), "{:.1f}"),
    ("latency p99 ms", ("latency", "latency_ms", "p99"), "{:.1f}"),
    ("latency max ms", ("latency", "latency_ms", "max"), "{:.1f}"),
    ("late ticks", ("latency", "late_ticks"), "{:.0f}"),
]


def dig(doc: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(doc, dict) or doc.get(key) is None:
            return None
        doc = doc[key]
    return float(doc) if isinstance(doc, int | float) else None


def wait_quiet(threshold: float, limit: float) -> None:
    deadline = time.monotonic() + limit
    while (idle := cpu_idle(3.0)) is not None and idle < threshold and time.monotonic() < deadline:
        print(f"  machine busy ({idle:.0%} idle); waiting", file=sys.stderr)
    if idle is not None and idle < threshold:
        print(f"  still busy ({idle:.0%} idle) after {limit:.0f}s; running anyway", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save", type=Path, help="append each run's JSON document to this file")
    parser.add_argument("--herald", default="herald", help="the herald executable")
    parser.add_argument("--quiet", type=float, default=0.0, help="wanted idle CPU fraction, e.g. 0.9")
    parser.add_argument("--quiet-wait", type=float, default=300.0, help="longest wait for --quiet, seconds")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    bench_args = [a for a in args.bench_args if a != "--"]
    docs: list[dict[str, Any]] = []
    for i in range(args.runs):
        if args.quiet:
            wait_quiet(args.quiet, args.quiet_wait)
        print(f"run {i + 1}/{args.runs}: herald bench --json {' '.join(bench_args)}", file=sys.stderr)
        proc = subprocess.run(
            [args.herald, "bench", "--json", *bench_args], stdout=subprocess.PIPE, check=False
        )
        if not proc.stdout.strip():
            print(f"  run {i + 1} produced no result (exit {proc.returncode})", file=sys.stderr)
            continue
        doc = json.loads(proc.stdout)
        docs.append(doc)
        if args.save:
            with args.save.open("a") as out:
                out.write(json.dumps(doc, sort_keys=True) + "\n")
    if not docs:
        return 1
    commits = sorted({str((d["machine"].get("source") or {}).get("commit", "?"))[:12] for d in docs})
    idle = [d["machine"].get("cpu_idle_before_start") for d in docs]
    print(f"commit {', '.join(commits)}; CPU idle just before each run: {idle}\n")
    print(f"| figure | median of {len(docs)} | runs |")
    print("|---|---:|---|")
    for label, path, fmt in FIGURES:
        values = [v for v in (dig(d, path) for d in docs) if v is not None]
        if values:
            runs = ", ".join(fmt.format(v) for v in values)
            print(f"| {label} | {fmt.format(statistics.median(values))} | {runs} |")
    incomplete = sum(1 for d in docs if not d.get("ok"))
    if incomplete:
        print(f"\n{incomplete} of {len(docs)} runs did not deliver and record everything.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
