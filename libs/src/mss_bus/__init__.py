"""RabbitMQ: topology, the outbox relay (publish side) and the inbox consumers."""

from mss_bus.connection import Bus, Topology
from mss_bus.consumer import BatchConsumer, EventConsumer, apply_batch_once, apply_once
from mss_bus.relay import OutboxRelay

__all__ = [
    "BatchConsumer",
    "Bus",
    "EventConsumer",
    "OutboxRelay",
    "Topology",
    "apply_batch_once",
    "apply_once",
]
