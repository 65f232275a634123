"""`herald bench`: drive the real API and workers against a fast local receiver, and measure.

The public surface is `BenchOptions` and `run_bench`; the modules behind it each do one job:
`receiver` (the counting HTTP server), `processes` (subprocesses and the throw-away database),
`client` (the Herald API calls), `workload` (publishing), `ceiling` (the bare-client baseline),
`stats` (percentiles), `report` (table and JSON) and `driver` (the run, start to finish).
"""

from herald.bench.driver import run_bench
from herald.bench.options import BenchOptions

__all__ = ["BenchOptions", "run_bench"]
