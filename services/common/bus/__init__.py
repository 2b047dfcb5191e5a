"""The event bus: one interface, two implementations (RabbitMQ distributed, in-memory embedded).

Both give the same contract: a message published (after the producer's commit, by its outbox relay) reaches
every queue bound to a matching routing key; each queue belongs to one consuming service and its replicas
compete for its messages; a handler that raises gets the message again after a delay, up to a bounded
number of attempts, then it is dead-lettered and kept. A queue keeps its messages while its consumer is
stopped or killed, and across a restart of the broker (the embedded bus: of the process). Delivery is at
least once; handlers make effects exactly once through the inbox.

Batches: a subscriber may also give a `Batching` (a batch handler, a size, a linger). The bus then hands it up
to `size` deliveries at once — whatever is waiting, or arrives within `linger` seconds of the first — and
acknowledges all of them only once the batch handler returned (its one transaction committed). If the batch
handler raises, the same deliveries go one by one through the one-message handler, with its retries and dead
letters: a poison message ends in the dead letters alone and the others land. A redelivered message (a retry,
attempt > 1) is always handled alone.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from services.common.messages import Envelope

Handler = Callable[[Envelope], Awaitable[None]]
BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]


@dataclass(frozen=True)
class Batching:
    """How a queue's consumer takes several deliveries at once (see the module docstring)."""

    handler: BatchHandler
    size: int = 100  # deliveries per batch at most
    linger: float = 0.02  # seconds to wait for more after the first, when fewer than `size` are waiting

    def __post_init__(self) -> None:
        if self.size < 1 or self.linger < 0:
            raise ValueError(f"Batching needs size >= 1 and linger >= 0, not {self.size} and {self.linger}")


@dataclass(frozen=True)
class DeadLetter:
    """A message a queue's handler failed on `attempts` times; kept until someone retries it."""

    queue: str
    message_id: str
    type: str
    body: bytes
    attempts: int
    error: str
    dead_at: datetime | None  # None where the broker does not say (RabbitMQ without the timestamp)

    @property
    def envelope(self) -> Envelope:
        return Envelope.from_bytes(self.body)


class Bus(Protocol):
    async def start(self) -> None:
        """Connect and declare what the bus needs (exchanges)."""

    async def publish(self, envelope: Envelope) -> None:
        """Publish persistently; returns once the broker has confirmed it."""

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Publish several, in their order; returns once the broker has confirmed every one."""

    async def subscribe(self, queue: str, keys: Sequence[str], handler: Handler,
                        batching: Batching | None = None) -> None:
        """Declare the service's queue bound to the routing keys and start consuming with the handler (and, with
        `batching`, in batches, the handler taking a batch's messages one by one if its batch failed)."""

    async def ping(self) -> None:
        """Raise if the broker is not reachable (readiness)."""

    async def dead_letter_count(self) -> dict[str, int]:
        """How many messages each consumer queue of this bus (by the name given to `subscribe`) dead-lettered."""

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest `limit` dead letters of a consumer queue (by its service's name), left where they are."""

    async def retry_dead_letters(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Hand a queue's dead letters (all, or those with these message ids) back to its consumer as new
        deliveries (attempt 1); returns how many. The consumer's inbox still makes a repeat harmless."""

    async def close(self) -> None:
        """Stop consuming and disconnect; unacknowledged messages go back to the queue."""


@lru_cache(maxsize=256)
def _pattern(key: str) -> re.Pattern[str]:
    parts = []
    for word in key.split("."):
        if word == "#":
            parts.append(r"(?:[^.]+(?:\.[^.]+)*)?")
        elif word == "*":
            parts.append(r"[^.]+")
        else:
            parts.append(re.escape(word))
    regex = r"\.".join(parts).replace(r"\.(?:[^.]+(?:\.[^.]+)*)?", r"(?:\.[^.]+)*")
    return re.compile(rf"^{regex}$")


def topic_matches(binding: str, routing_key: str) -> bool:
    """AMQP topic semantics: `*` is exactly one word, `#` zero or more words."""
    return bool(_pattern(binding).match(routing_key))
