"""A fetched batch → events committed through the publish path, poison → dead letters. The runner
acknowledges the batch only after this returns: at least once, and the event ids make it exactly one
event per message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from herald.domain.catalog import validate_event_data
from herald.sources import metrics
from herald.sources.messages import Message, Poison, parse, raw_text
from herald.sources.spec import SourceSpec
from herald.store import sources as store
from herald.store.database import Database
from herald.store.event_types import validators
from herald.store.publish import NewEvent
from herald.tracing import traced_publish


@dataclass(slots=True)
class Ingested:
    created: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    deliveries: int = 0


async def _schema_problem(db: Database, event: NewEvent) -> str | None:
    """The event type's schema (built-in or registered), as the HTTP publish checks it."""
    data = orjson.loads(event.data)
    problems = validate_event_data(event.type, data) + await validators(db).errors(db, event.type, data)
    if not problems:
        return None
    first = problems[0]
    where = f"data.{first['field']}" if first["field"] else "data"
    return f"failing the schema of {event.type}: {where}: {first['message']}"


async def ingest(
    db: Database, spec: SourceSpec, batch: Sequence[Message], notify: Callable[[], None] | None = None
) -> Ingested:
    by_account: dict[str, list[NewEvent]] = {}
    poison: list[tuple[str, str, str]] = []
    for message in batch:
        try:
            parsed = parse(spec, message)
            if (problem := await _schema_problem(db, parsed.event)) is not None:
                raise Poison(problem)
        except Poison as exc:
            poison.append((message.id, str(exc), raw_text(message.body)))
            continue
        by_account.setdefault(parsed.account, []).append(parsed.event)
    done = Ingested()
    for account, events in by_account.items():
        result = await traced_publish(db, account, events, None)  # a span per batch, like the API's
        done.created += result.created
        done.duplicates += len(events) - result.created
        done.deliveries += result.deliveries
    done.dead_letters = await store.add_dead_letters(db, spec.id, poison)
    metrics.observe(spec.name, done.created, done.duplicates, len(poison))
    if done.deliveries and notify is not None:
        notify()
    return done
