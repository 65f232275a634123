"""What every bus kind implements: connect, fetch a batch, acknowledge it, tell its lag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from herald.sources.messages import Message


@dataclass(frozen=True, slots=True)
class Fetched:
    message: Message
    handle: Any  # what the kind needs to acknowledge it


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    batch: int = 100
    # Seconds a fetched, unacknowledged message waits before another member of the group takes it over
    # (its consumer died): Redis XAUTOCLAIM min-idle, JetStream ack_wait.
    claim_idle: float = 30.0
    poll_timeout: float = 1.0


class Consumer(Protocol):
    async def open(self) -> None: ...

    async def fetch(self) -> Sequence[Fetched]:
        """Up to a batch of messages, waiting at most the poll timeout for the first."""
        ...

    async def ack(self, batch: Sequence[Fetched]) -> None: ...

    async def lag(self) -> int | None: ...

    async def close(self) -> None: ...
