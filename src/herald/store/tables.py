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
    Column("secret", Text, nullable=False),  # encrypted
    Column("client_id", String(64)),  # LivePerson client id for account-owned connector subscriptions
    Column("credential_id", String(40), ForeignKey("credentials.id")),
    # Deliver through the configured LivePerson-style mTLS forward gateway instead of presenting the
    # mapped certificate directly.
    Column("mtls_via_gateway", Boolean, nullable=False, default=False, server_default="0"),
    Column("filter", JSON),  # payload filter over the event data (herald.domain.filters); null = all
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
    PrimaryKeyConstraint("account_id", "id", name="pk_events"),
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
    Index("ix_deliveries_account_created", "account_id", "created_at"),
    Index("ix_deliveries_subscription_created", "subscription_id", "created_at"),
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
