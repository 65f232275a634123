"""Settings from HERALD_* environment variables, optionally mirrored by a TOML file.

Precedence: environment > TOML file (HERALD_CONFIG, or ./herald.toml when present) > defaults.
"""

from __future__ import annotations

import math
import os
import secrets
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from herald.domain.health import HealthPolicy
from herald.domain.retry import RetryConfig

DEFAULT_SQLITE_FILE = "herald.db"
DEFAULT_KEY_FILE = "herald.key"


class ConfigError(ValueError):
    """A setting has a value Herald cannot use."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_FILE}"
    listen: str = "127.0.0.1:8080"
    admin_token: str | None = None
    # Comma-separated Fernet keys: the first encrypts, all decrypt (so the master key can be rotated).
    secret_key: str | None = None
    secret_key_file: str = DEFAULT_KEY_FILE
    allow_private_targets: bool = False
    # Comma-separated CIDR ranges the address guard lets through even when private (HERALD_ALLOW_SUBNETS).
    allow_subnets: str = ""
    # Plain http:// endpoints (also allowed whenever private targets are: local development).
    allow_http: bool = False
    # A PEM file of extra CAs trusted for HTTPS endpoints, besides the system's.
    ca_bundle: str = ""
    # Seconds within which a worker picks up a new or changed mTLS mapping (LivePerson: 2.5 minutes).
    mtls_refresh: float = 150.0
    # The mTLS forward gateway subscriptions with `mtls_via_gateway` deliver through, and its token.
    mtls_gateway_url: str = ""
    gateway_token: str | None = None
    gateway_listen: str = "127.0.0.1:8090"
    # TLS on Herald's own listeners (serve, api, mtls-gateway): PEM certificate chain and key files.
    tls_cert: str = ""
    tls_key: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 5.0
    # The HTTP client deliveries are sent with: `reqwest` (pyreqwest, native) or `aiohttp` (docs/adr/0011).
    transport: str = "reqwest"
    max_body_bytes: int = 1024 * 1024
    max_batch_events: int = 1000
    # Delays between standard-profile attempts, seconds, comma-separated (Standard Webhooks / Svix).
    retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    liveperson_retry_interval: float = 30.0
    # LivePerson TTL installations: the first backoff delay (then doubled, capped at 5 min), the drain
    # period after the store empties, and how often each worker checks the time-driven transitions.
    liveperson_ttl_backoff: float = 2.0
    liveperson_drain_period: float = 30.0
    liveperson_ttl_check: float = 0.5
    # Dispatcher tuning.
    lease_seconds: float = 30.0
    claim_batch: int = 500
    max_in_flight: int = 1024
    endpoint_concurrency: int = 64
    poll_interval: float = 0.02
    shutdown_grace: float = 10.0
    log_level: str = "info"
    dashboard: bool = True  # serve the web dashboard at /ui (GET / leads there, else to /docs)
    log_format: str = "text"  # text (for people) | json (one object per line, with the ids as fields)
    # Failed authentication from one client address: after this many within the window, answer 429
    # (0 turns the limiter off). Counted in memory, per API process.
    auth_failure_limit: int = 20
    auth_failure_window: float = 60.0
    # Lifetime of OAuth client-credentials access tokens, seconds.
    oauth_token_ttl: int = 3600
    # Background jobs (recover, replay): how often an idle runner looks for one, how long a claimed job is
    # held before another process may resume it, and rows per batch (each batch one short transaction).
    job_poll_interval: float = 1.0
    job_lease_seconds: float = 60.0
    job_batch: int = 500
    # Retention (docs/recovery.md): event payloads after this many days (never while a delivery of the
    # event is still queued); finished deliveries with their attempts, and finished jobs, after the
    # second. 0 keeps those rows forever. Swept every `retention_interval` seconds in batches.
    retention_payload_days: float = 30.0
    retention_log_days: float = 90.0
    retention_interval: float = 3600.0
    retention_batch: int = 500
    # Inspector bins: lifetime (seconds), body bytes kept per captured request, requests kept per bin
    # (oldest dropped first), bins per account.
    inspect_ttl: int = 86_400
    inspect_max_body: int = 64 * 1024
    inspect_max_requests: int = 200
    inspect_max_bins: int = 20
    # herald listen: how long a relayed delivery waits for the CLI's answer (then a read timeout), and how
    # long a session lives without the CLI polling (then it and its subscription are removed).
    listen_timeout: float = 10.0
    listen_session_ttl: float = 60.0
    # Endpoint health (docs/endpoint-health.md). Slow: smoothed response time over `slow_threshold`
    # seconds for `slow_window` seconds (LivePerson: 2.5 s over 2 minutes) → disabled.
    slow_threshold: float = 2.5
    slow_window: float = 120.0
    slow_min_attempts: int = 3
    # Failing: disabled after no success for this many seconds (Svix: 5 days), or after this many
    # consecutive failed attempts; 0 turns either off.
    disable_after_seconds: float = 5 * 86400.0
    disable_after_failures: int = 0
    # message.attempt.failing is sent after this many consecutive failures (0: never).
    failing_after: int = 4
    # Circuit breaker per endpoint: opens after this many consecutive failures (0: off), lets one probe
    # through after the cool-down (seconds).
    breaker_failures: int = 20
    breaker_cooldown: float = 30.0
    # 429, 502 and 504 halve an endpoint's concurrency for this long (seconds), down to 1.
    throttle_seconds: float = 30.0
    # Retry-After on 429 and 503 is honoured within these bounds (seconds).
    retry_after_min: float = 0.0
    retry_after_max: float = 86_400.0
    # Customer portal links (docs/portal.md): origins allowed to embed /ui in an iframe (CSP
    # frame-ancestors), space- or comma-separated, e.g. "https://app.example.com"; empty: no embedding.
    portal_frame_ancestors: str = ""
    # Send every delivery through this HTTP proxy (http://host:port): CONNECT for https, absolute-form
    # for http, the destination vetted by the address guard first (dispatch/egress.py). Empty: direct.
    egress_proxy: str = ""
    # Named proxies subscriptions may choose with `egress_proxy` ("audit=http://10.0.0.5:3128,eu=http://…").
    egress_proxies: str = ""
    # Stream sources (docs/sources.md): they stop reading while the queue holds more than this many
    # deliveries (0: never stop); messages per fetch; seconds before a dead member's unacknowledged
    # messages go to another; seconds between looks for created, changed or deleted sources.
    source_queue_limit: int = 100_000
    source_batch: int = 100
    source_claim_idle: float = 30.0
    source_refresh: float = 5.0

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        try:
            return int(self.listen.rsplit(":", 1)[1])
        except (IndexError, ValueError) as exc:
            raise ConfigError(f"HERALD_LISTEN must look like host:port, got {self.listen!r}") from exc

    @property
    def http_allowed(self) -> bool:
        """Plain http:// endpoints: explicitly allowed, or implied by development mode (private targets)."""
        return self.allow_http or self.allow_private_targets

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def retry_config(self) -> RetryConfig:
        try:
            schedule = tuple(float(part) for part in self.retry_schedule.split(",") if part.strip())
        except ValueError as exc:
            raise ConfigError(f"HERALD_RETRY_SCHEDULE must be comma-separated seconds: {exc}") from exc
        if not schedule or any(not math.isfinite(d) or d < 0 for d in schedule):
            raise ConfigError("HERALD_RETRY_SCHEDULE needs one or more finite, non-negative delays")
        if not 0 <= self.retry_after_min <= self.retry_after_max:
            raise ConfigError("HERALD_RETRY_AFTER_MIN must be between 0 and HERALD_RETRY_AFTER_MAX")
        return RetryConfig(
            schedule=schedule,
            liveperson_interval=self.liveperson_retry_interval,
            ttl_backoff=self.liveperson_ttl_backoff,
            retry_after_min=self.retry_after_min,
            retry_after_max=self.retry_after_max,
        )

    def health_policy(self) -> HealthPolicy:
        return HealthPolicy(
            slow_threshold_ms=self.slow_threshold * 1000,
            slow_window=self.slow_window,
            slow_min_attempts=self.slow_min_attempts,
            failure_window=self.disable_after_seconds,
            failure_limit=self.disable_after_failures,
            failing_after=self.failing_after,
        )

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def secret_keys(self, *, create: bool = True) -> list[str]:
        """The configured master keys; when none is given, a key file beside the data is made once
        (with `create`; without, no keys). Processes first ask store/keycheck.py whether they may."""
        if self.secret_key:
            return [k.strip() for k in self.secret_key.split(",") if k.strip()]
        path = Path(self.secret_key_file)
        if not path.exists():
            if not create:
                return []
            _create_key_file(path)
        return [path.read_text().strip()]


def _create_key_file(path: Path) -> None:
    """Write a new master key so that it appears whole and owner-only, or not at all: processes starting
    together (`herald api` beside `herald worker`) race here, and the loser must read the winner's key."""
    from cryptography.fernet import Fernet

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(Fernet.generate_key())
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(tmp, path)  # atomic, and fails if another process got there first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


_COERCE: dict[str, type] = {f.name: f.type for f in fields(Settings)}  # type: ignore[misc]


def _coerce(name: str, raw: Any) -> Any:
    kind = _COERCE[name]
    env_name = f"HERALD_{name.upper()}"
    if kind in ("bool", bool):
        return raw if isinstance(raw, bool) else _parse_bool(env_name, str(raw))
    if kind in ("int", int):
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{env_name} must be an integer, got {raw!r}") from exc
    if kind in ("float", float):
        try:
            return float(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{env_name} must be a number, got {raw!r}") from exc
    return str(raw)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get("HERALD_CONFIG") or ("herald.toml" if Path("herald.toml").exists() else None)
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        section = data.get("herald", data)
        for key, raw in section.items():
            name = key.lower().removeprefix("herald_")
            if name not in _COERCE:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            values[name] = _coerce(name, raw)
    for name in _COERCE:
        raw = env.get(f"HERALD_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    return Settings(**values)


def generate_admin_token() -> str:
    return "hrd_admin_" + secrets.token_urlsafe(24)
