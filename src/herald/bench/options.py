"""What a bench run is asked to do."""

from __future__ import annotations

from dataclasses import dataclass

BACKENDS = ("sqlite", "postgresql")
MODES = ("throughput", "latency", "all")

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EVENT_TYPE = "bench.event"
ACCOUNT = "bench"


@dataclass(frozen=True, slots=True)
class BenchOptions:
    backend: str = "sqlite"  # one of BACKENDS
    pg_url: str = DEFAULT_PG_URL
    events: int = 20_000
    fanout: int = 1
    batch: int = 500
    publishers: int = 4
    workers: int = 1
    rate: int = 1_000
    duration: float = 20.0
    mode: str = "all"  # one of MODES
    payload: int = 256  # bytes of padding in each event's data, so bodies have a realistic size
    ceiling_concurrency: int = 64  # Herald's default per-endpoint concurrency cap
    timeout: float = 300.0  # the longest any one wait may take
    stall: float = 30.0  # give up waiting when nothing new arrived for this long
    transport: str = ""  # HERALD_TRANSPORT for Herald's processes ("": Herald's default)

    @property
    def runs_throughput(self) -> bool:
        return self.mode in ("throughput", "all")

    @property
    def runs_latency(self) -> bool:
        return self.mode in ("latency", "all")

    def check(self) -> None:
        """Raise ValueError for options no run can satisfy."""
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.mode not in MODES:
            raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.events < 1 or self.fanout < 1 or self.batch < 1 or self.publishers < 1 or self.workers < 1:
            raise ValueError("--events, --fanout, --batch, --publishers and --workers must be at least 1")
        if self.batch > 1000:
            raise ValueError("--batch must be at most 1000 (the API's batch limit)")
        if self.rate < 1 or self.duration <= 0:
            raise ValueError("--rate must be at least 1 and --duration positive")
        if self.transport not in ("", "aiohttp", "reqwest"):
            raise ValueError(f"--transport must be aiohttp or reqwest, got {self.transport!r}")
        if self.payload < 0 or self.ceiling_concurrency < 1:
            raise ValueError("--payload must be >= 0 and --ceiling-concurrency >= 1")
