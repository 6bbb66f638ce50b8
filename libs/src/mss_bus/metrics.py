"""Business metrics of the event bus (exposed on each process's /metrics)."""

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "mss_events_published_total", "Events published from the outbox", ["service"]
)
PUBLISH_FAILURES = Counter(
    "mss_outbox_publish_failures_total", "Outbox batches that failed to publish", ["service"]
)
OUTBOX_LAG = Gauge(
    "mss_outbox_lag_seconds", "Age of the oldest event in the last outbox batch", ["service"]
)
EVENTS_CONSUMED = Counter("mss_events_consumed_total", "Events consumed", ["service", "outcome"])
DLQ_DEPTH = Gauge(
    "mss_dlq_depth", "Messages waiting in a dead-letter queue of the service", ["service", "queue"]
)
