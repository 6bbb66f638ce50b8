"""RabbitMQ: topology, the outbox relay (publish side) and the inbox consumer."""

from mss_bus.connection import Bus, Topology
from mss_bus.consumer import EventConsumer, apply_once
from mss_bus.relay import OutboxRelay

__all__ = ["Bus", "EventConsumer", "OutboxRelay", "Topology", "apply_once"]
