"""A source's settings, as the runner and the consumers see them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("redis-stream", "nats-jetstream", "amqp", "kafka")
# The bus URL kind each source kind connects with (herald.buses.urls).
URL_KIND = {"redis-stream": "redis", "nats-jetstream": "nats", "amqp": "amqp", "kafka": "kafka"}
# The API's name for `target` per kind.
TARGET_FIELD = {"redis-stream": "stream", "nats-jetstream": "subject", "amqp": "queue", "kafka": "topic"}


@dataclass(frozen=True, slots=True)
class SourceSpec:
    id: str
    name: str
    kind: str
    url: str  # decrypted, with its password
    target: str  # stream | subject | queue
    group: str
    account: str | None
    account_field: str | None
    type_field: str = "type"
    id_field: str = "id"
    data_field: str = "data"
    ordering_key_field: str = "ordering_key"
    enabled: bool = True
    updated_at: float = 0.0

    @classmethod
    def from_row(cls, row: dict[str, Any], url: str) -> SourceSpec:
        return cls(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            url=url,
            target=row["target"],
            group=row["group_name"],
            account=row["account"],
            account_field=row["account_field"],
            type_field=row["type_field"],
            id_field=row["id_field"],
            data_field=row["data_field"],
            ordering_key_field=row["ordering_key_field"],
            enabled=row["enabled"],
            updated_at=row["updated_at"],
        )
