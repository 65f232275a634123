"""The values that travel between the store, the dispatcher and the API."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from herald.domain.credentials import Credential


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first attempt or a retry
    DELIVERED = "delivered"
    DEAD = "dead"  # retries exhausted (or a manual resend failed); nothing more will be tried
    CANCELLED = "cancelled"  # its subscription was deleted before it could be delivered


class ErrorKind(StrEnum):
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    REFUSED = "refused"
    DNS = "dns"
    TLS = "tls"
    BAD_STATUS = "bad_status"
    BLOCKED_TARGET = "blocked_target"
    NETWORK = "network"  # connection reset, protocol error and other transport failures
    BROKER_REFUSED = "broker_refused"  # a bus destination's broker took the connection, not the message
    INTERNAL = "internal"  # Herald could not build the request: a bug, recorded rather than retried forever


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the dispatcher needs to know about a subscription to deliver to it."""

    subscription_id: str
    url: str
    profile: str
    secret: str  # the signing secret: a whsec_ key, or the LivePerson client secret
    client_id: str | None  # LivePerson installation (client) id; None for other profiles
    enabled: bool = True
    credential: Credential | None = None  # adds (or, for its own scheme, replaces) authentication headers
    mtls_via_gateway: bool = False  # send through the mTLS forward gateway instead of presenting the cert
    propagate_trace: bool = False  # send the attempt span's traceparent (tracing on)
    egress_proxy: str | None = None  # a proxy named in HERALD_EGRESS_PROXIES
    # LiveChat webhooks (profile `livechat`): the API version registered with, the additional data asked.
    livechat_version: str | None = None
    additional_data: tuple[str, ...] = ()
    # Per-endpoint limits (None: only the dispatcher's defaults) and the shared failure streak, which
    # seeds this worker's circuit breaker with what other workers saw.
    rate_limit: float | None = None
    rate_limit_burst: int | None = None
    max_concurrency: int | None = None
    consecutive_failures: int = 0
    last_failure_at: float | None = None


class NewDelivery(NamedTuple):
    """A delivery to create and queue (herald.store.enqueue): publish, replay and operational events
    build these, and nothing else writes a new delivery. A named tuple: cheap to build per row, and it
    binds as it is (its field order is the insert's column order)."""

    id: str
    account_id: str
    event_id: str
    event_type: str
    subscription_id: str
    ordering_key: str | None  # set when its subscription keeps order: followers wait for it
    max_retries: int | None
    retention_time: int | None
    available_at: float  # when it is first due (a held TTL installation: HELD_AT)
    replay_of: str | None = None  # the replay job that created it


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A queued delivery a worker holds under a lease, with the event it carries."""

    seq: int
    delivery_id: str
    account_id: str
    subscription_id: str
    event_id: str
    event_type: str
    event_timestamp: float
    event_data: bytes  # the event's data exactly as stored (JSON)
    attempts: int  # attempts made before this one
    lease: int  # claim token: the record step only acts if the lease is still ours
    max_retries: int | None
    retention_time: int | None
    manual: bool  # a manual resend: one attempt, no automatic retries
    created_at: float
    ordering_key: str | None = None  # set when its subscription is ordered: followers wait for it
    event_context: bytes | None = None  # what a LiveChat event's additional_data is rendered from (JSON)


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """An endpoint's mTLS material as PEM text, for transports that take PEM rather than an
    `ssl.SSLContext`. `key` changes whenever the material does (mapping id and version)."""

    key: str
    certificate: str
    private_key: str
    ca_bundle: str | None  # trusted instead of the default CAs (see docs/adr/0011)


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]
    tls: ssl.SSLContext | None = None  # an endpoint's own TLS (mTLS); None: the transport's default
    read_timeout: float | None = None  # the profile's own read timeout; None: the transport's default
    identity: ClientIdentity | None = None  # the same mTLS material as `tls`, as PEM
    proxy: str | None = None  # a named egress proxy (dispatch/egress.py); None: the transport's default


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransportError:
    kind: ErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One HTTP try, as the log keeps it; plus what it decided for the delivery."""

    claimed: ClaimedDelivery
    attempted_at: float
    duration_ms: float
    status_code: int | None
    error_kind: ErrorKind | None
    error_message: str | None
    response_body: str | None
    request_headers: dict[str, str]
    next_attempt_at: float | None  # None: the delivery is finished (delivered or dead)
    succeeded: bool

    @property
    def final_status(self) -> DeliveryStatus:
        if self.succeeded:
            return DeliveryStatus.DELIVERED
        return DeliveryStatus.PENDING if self.next_attempt_at is not None else DeliveryStatus.DEAD
