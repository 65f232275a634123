"""The schema, shared by SQLite and PostgreSQL. Times are epoch seconds (double precision) everywhere.

`queue` is the small, hot work table: one row per delivery still to be attempted. `deliveries` is the
searchable log of every delivery; `attempts` is append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# INTEGER PRIMARY KEY on SQLite is the rowid (auto-increment); BIGINT identity on PostgreSQL.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

applications = Table(
    "applications",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret", Text, nullable=False),  # encrypted
    # Where Herald sends this application's operational events (Standard Webhooks); see store/operational.py.
    Column("operational_url", Text),
    # The account (LiveChat license) whose personal access tokens manage this application's LiveChat
    # webhooks, as the developer's agents do in LiveChat (ADR 0013).
    Column("owner_account_id", String(64)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

installations = Table(
    "installations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("application_id", String(40), ForeignKey("applications.id"), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("max_retries", Integer),
    Column("retention_time", Integer),
    Column("state", String(20), nullable=False, default="UP"),
    # LivePerson TTL state machine (herald.domain.ttl): when `state` last changed; end of the drain period.
    Column("state_changed_at", Float),
    Column("drain_until", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("application_id", "account_id", name="uq_installations_app_account"),
    Index("ix_installations_account", "account_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("application_id", String(40), ForeignKey("applications.id")),
    Column("account_id", String(64)),
    Column("name", String(200)),
    Column("description", Text),
    Column("url", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("profile", String(40), nullable=False),
    Column("ordered", Boolean, nullable=False, default=False),
    Column("max_retries", Integer),
    Column("retention_time", Integer),  # LivePerson TTL of this subscription; NULL: its installation's
    Column("secret", Text, nullable=False),  # encrypted
    Column("client_id", String(64)),  # LivePerson client id for account-owned connector subscriptions
    Column("credential_id", String(40), ForeignKey("credentials.id")),
    # Deliver through the configured LivePerson-style mTLS forward gateway instead of presenting the
    # mapped certificate directly.
    Column("mtls_via_gateway", Boolean, nullable=False, default=False, server_default="0"),
    # Send the attempt span's W3C `traceparent` with each delivery (only while tracing is on).
    Column("propagate_trace", Boolean, nullable=False, default=False, server_default="0"),
    Column("egress_proxy", String(64)),  # a name from HERALD_EGRESS_PROXIES; null: the default route
    Column("filter", JSON),  # payload filter over the event data (herald.domain.filters); null = all
    # A LiveChat webhook (register_webhook): {"version","type","owner_client_id","filters",
    # "additional_data"}; null for every other subscription.
    Column("livechat", JSON),
    Column("enabled", Boolean, nullable=False, default=True),
    # Endpoint health (dispatch/health.py): why and when it was disabled, and the shared counters every
    # worker's recorder updates in its batch transaction.
    Column("disabled_reason", String(200)),
    Column("disabled_at", Float),
    Column("consecutive_failures", Integer, nullable=False, default=0, server_default="0"),
    Column("first_failure_at", Float),  # first failure since the last success
    Column("last_failure_at", Float),
    Column("last_success_at", Float),
    Column("failing", Boolean, nullable=False, default=False, server_default="0"),  # announced as failing
    Column("latency_ewma", Float),  # smoothed response time, ms
    Column("slow_since", Float),  # since when the smoothed response time has been over the threshold
    Column("slow_attempts", Integer, nullable=False, default=0, server_default="0"),
    # Per-endpoint limits (per dispatcher process): deliveries per second with a burst, in-flight cap.
    Column("rate_limit", Float),
    Column("rate_limit_burst", Integer),
    Column("max_concurrency", Integer),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_subscriptions_account", "account_id"),
    Index("ix_subscriptions_application", "application_id"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scheme", String(20), nullable=False),
    Column("config", JSON, nullable=False),  # settings, never secrets (algorithm, encoding, header…)
    Column("secret", Text, nullable=False),  # encrypted
    Column("previous_secret", Text),  # encrypted; still signs until previous_expires_at (rotation grace)
    Column("previous_expires_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("rotated_at", Float),
    Index("ix_credentials_account", "account_id"),
)

mtls_mappings = Table(
    "mtls_mappings",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("service", String(40), nullable=False),  # LivePerson's service name: WEBHOOKS
    Column("url", Text, nullable=False),  # the exact endpoint URL, query string included
    Column("certificate", Text, nullable=False),  # client certificate chain, PEM
    Column("private_key", Text, nullable=False),  # encrypted PEM
    Column("ca_bundle", Text),  # PEM CAs to verify the server with, instead of the system's
    Column("allow_plain_fallback", Boolean, nullable=False, default=False, server_default="0"),
    Column("fingerprint", String(100), nullable=False),  # sha256 of the leaf certificate
    Column("not_after", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("account_id", "service", "url", name="uq_mtls_mappings_triplet"),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(10), nullable=False),  # pat (personal, per account) | oauth (client credentials)
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex; the token is shown once
    Column("name", String(200)),
    Column("account_id", String(64)),
    Column("application_id", String(40), ForeignKey("applications.id")),
    Column("scopes", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("last_used_at", Float),
    Index("ix_access_tokens_account", "account_id"),
)

events = Table(
    "events",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("id", String(255), nullable=False),
    Column("type", String(255), nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("data", Text, nullable=False),  # JSON exactly as published (re-encoded once, compactly)
    Column("ordering_key", String(255)),
    Column("created_at", Float, nullable=False),
    # LiveChat actions: what additional_data is rendered from (herald.domain.livechat.EventContext).
    Column("context", Text),
    # Set when the content was expunged (store/expunge.py): `data` is then "null" and `context` NULL.
    Column("expunged_at", Float),
    PrimaryKeyConstraint("account_id", "id", name="pk_events"),
    Index("ix_events_created", "created_at"),  # replay (events since a time) and retention
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("event_type", String(255), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("last_attempt_at", Float),
    Column("next_attempt_at", Float),
    Column("last_status_code", Integer),
    Column("last_error_kind", String(32)),
    Column("finished_at", Float),
    # The replay job that created this delivery (a new delivery of an old event); null for ordinary ones.
    Column("replay_of", String(40)),
    Index("ix_deliveries_account_created", "account_id", "created_at"),
    Index("ix_deliveries_subscription_created", "subscription_id", "created_at"),
    Index("ix_deliveries_created", "created_at"),  # retention sweeps by age across accounts
)

queue = Table(
    "queue",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),  # publish order
    Column("delivery_id", String(40), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("ordering_key", String(255)),  # set only for ordered subscriptions
    Column("available_at", Float, nullable=False),  # due time, or lease expiry while claimed
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease", Integer, nullable=False, default=0),  # bumped on every claim
    Column("max_retries", Integer),
    Column("retention_time", Integer),
    Column("manual", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Index("ix_queue_available", "available_at"),
    Index("ix_queue_ordering", "subscription_id", "ordering_key", "seq"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("delivery_id", String(40), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status_code", Integer),
    Column("error_kind", String(32)),
    Column("error_message", Text),
    Column("response_body", Text),
    Column("request_headers", Text),
    Index("ix_attempts_delivery", "delivery_id"),
)

# Custom event types registered by the admin: global (every account), versioned MODEL-REVISION-ADDITION.
custom_event_types = Table(
    "custom_event_types",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("version", String(40), nullable=False),
    Column("json_schema", JSON, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "version", name="uq_custom_event_types_name_version"),
)

# --- recovery ---
# Background jobs (recover, replay): claimed under a lease like the queue, worked in short batches; progress
# and the keyset cursor of the last batch are saved with each batch, so a job resumes where it stopped.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),  # recover | replay
    Column("account_id", String(64)),  # owner: an account ...
    Column("application_id", String(40)),  # ... or an application (exactly one is set)
    Column("scope", String(120), nullable=False),  # "account:<id>" | "application:<id>": idempotency scope
    Column("subscription_id", String(40), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | succeeded | failed
    Column("total", Integer),  # rows to look at, counted when the job starts
    Column("done", Integer, nullable=False, default=0),  # rows looked at
    Column("affected", Integer, nullable=False, default=0),  # deliveries re-queued or created
    Column("cursor", JSON),  # where the next batch starts
    Column("error", Text),
    Column("tries", Integer, nullable=False, default=0),  # failed runs so far
    Column("idempotency_key", String(255)),
    Column("lease", Integer, nullable=False, default=0),  # claim token, bumped on every claim
    Column("lease_until", Float, nullable=False),  # due time while queued, lease expiry while running
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    UniqueConstraint("scope", "idempotency_key", name="uq_jobs_idempotency"),
    Index("ix_jobs_due", "status", "lease_until"),
    Index("ix_jobs_scope_created", "scope", "created_at"),
)

# --- inspector and herald listen ---

# Request bins: a public, unguessable capture URL that records every request and answers as configured.
inspect_bins = Table(
    "inspect_bins",
    metadata,
    Column("id", String(40), primary_key=True),  # 80 random bits: the capture URL's secret part
    Column("account_id", String(64), nullable=False),
    Column("name", String(200)),
    Column("response_status", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("response_headers", JSON, nullable=False),
    Column("response_delay", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_inspect_bins_account", "account_id"),
    Index("ix_inspect_bins_expires", "expires_at"),
)

inspect_requests = Table(
    "inspect_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("bin_id", String(40), nullable=False),
    Column("method", String(16), nullable=False),
    Column("path", Text, nullable=False),  # the subpath after /hook
    Column("query", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON [[name, value], ...] in arrival order
    Column("body", Text, nullable=False),  # utf-8 text, or base64 when body_encoding is "base64"
    Column("body_encoding", String(10), nullable=False),
    Column("body_size", Integer, nullable=False),  # bytes received; more than kept when truncated
    Column("truncated", Boolean, nullable=False),
    Column("source", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_inspect_requests_bin_created", "bin_id", "created_at"),
)

# `herald listen`: a session owns a temporary subscription whose URL is herald-listen://<session id>.
listen_sessions = Table(
    "listen_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("forward_to", Text),  # informational: where the CLI forwards
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),  # the CLI's last poll (heartbeat)
    Index("ix_listen_sessions_seen", "seen_at"),
)

# One rendered request the dispatcher relays to a listening CLI, and the CLI's answer.
listen_requests = Table(
    "listen_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("session_id", String(40), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("claimed_at", Float),  # handed to the CLI
    Column("answered_at", Float),
    Column("status_code", Integer),
    Column("response_headers", JSON),
    Column("response_body", LargeBinary),
    Column("error_kind", String(32)),
    Column("error_message", Text),
    Index("ix_listen_requests_session", "session_id", "created_at"),
)

# --- livechat ---

# LiveChat's "webhooks enabled for a license": per application and account, kept apart from the
# installation so that it survives an uninstall and reinstall (disable_license_webhooks stays disabled).
livechat_license_webhooks = Table(
    "livechat_license_webhooks",
    metadata,
    Column("application_id", String(40), ForeignKey("applications.id"), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("application_id", "account_id", name="pk_livechat_license_webhooks"),
)

# --- LivePerson TTL installations ---
# Every state change of an installation, appended in the transaction that made it.
installation_transitions = Table(
    "installation_transitions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("installation_id", String(40), nullable=False),
    Column("application_id", String(40), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("from_state", String(20), nullable=False),
    Column("to_state", String(20), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_installation_transitions_installation", "installation_id", "created_at"),
)

# The conversations (ordering keys) that were in an installation's store when it was released: during the
# drain period their new events wait `DRAIN_WAIT` seconds.
ttl_drain_conversations = Table(
    "ttl_drain_conversations",
    metadata,
    Column("installation_id", String(40), nullable=False),
    Column("ordering_key", String(255), nullable=False),
    PrimaryKeyConstraint("installation_id", "ordering_key", name="pk_ttl_drain_conversations"),
)

# --- endpoint health and operational events ---

# What Herald told (or would tell) an application about itself. The delivery, when the application has an
# operational URL, is an ordinary event + delivery + queue row of the application's system subscription.
operational_events = Table(
    "operational_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("application_id", String(40)),
    Column("account_id", String(64)),
    Column("type", String(100), nullable=False),
    Column("data", Text, nullable=False),  # JSON
    Column("delivery_id", String(40)),  # its delivery to the operational URL, if one is configured
    Column("created_at", Float, nullable=False),
    Index("ix_operational_events_application", "application_id", "created_at"),
    Index("ix_operational_events_account", "account_id", "created_at"),
)

# An endpoint's rate-limit bucket, shared by every worker: each takes the tokens for the deliveries it
# claimed in one transaction (store/rate_tokens.py), so N workers together keep to the endpoint's rate.
endpoint_tokens = Table(
    "endpoint_tokens",
    metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# One row (id 1): a constant sealed with the master key at first use, so that a process whose keys cannot
# open it refuses to start instead of failing every delivery (store/keycheck.py). `herald rekey` re-seals it.
key_check = Table(
    "key_check",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sealed", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# --- customer portal links (store/portal.py) ---
# A one-time link that signs a browser into /ui for one account, optionally read-only or limited to some
# subscriptions. Only the token's sha256 is kept; the session it opens lasts until `expires_at`.
portal_links = Table(
    "portal_links",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("read_only", Boolean, nullable=False),
    Column("subscription_ids", JSON),  # null: every subscription of the account
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),  # the one sign-in it allows
    Column("revoked_at", Float),
    Index("ix_portal_links_account", "account_id"),
)

# --- tracing (herald/tracing.py) ---
# The W3C traceparent of an event's publish span, written only while tracing is on: each attempt's span
# becomes its child, in whichever worker sends it. Rows older than a week are pruned as new ones come.
event_traces = Table(
    "event_traces",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    PrimaryKeyConstraint("account_id", "event_id", name="pk_event_traces"),
    Index("ix_event_traces_created", "created_at"),
)

# Event buses Herald consumes events from (herald/sources/). `url` is encrypted: it may carry a password.
sources = Table(
    "sources",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("url", Text, nullable=False),  # encrypted
    Column("target", String(255), nullable=False),  # the stream, subject, queue or topic
    Column("group_name", String(255), nullable=False),
    Column("account", String(64)),
    Column("account_field", String(255)),
    Column("type_field", String(255), nullable=False),
    Column("id_field", String(255), nullable=False),
    Column("data_field", String(255), nullable=False),
    Column("ordering_key_field", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Messages a source could not turn into an event (poison), kept with the reason; they were acknowledged.
source_dead_letters = Table(
    "source_dead_letters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("source_id", String(40), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),  # the message body as text (undecodable bytes replaced)
    Column("created_at", Float, nullable=False),
    Index("ix_source_dead_letters_source", "source_id", "created_at"),
)
