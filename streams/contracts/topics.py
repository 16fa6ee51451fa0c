"""The one list of Kafka topics: logical names, per-topic configs and size limits. No I/O."""

from __future__ import annotations

__all__ = [
    "ALL_TOPICS",
    "CASES",
    "CASE_STATE",
    "DEADLETTER",
    "DEDUP_STATE",
    "DISPATCH",
    "FUSED",
    "LINKS",
    "MAX_MESSAGE_BYTES",
    "RAW_TOPICS",
    "TOPIC_CONFIGS",
    "TRANSITIONS",
    "UPDATES",
    "topic_config",
]

# source name (as in the fused ``source`` column and dead letters) -> raw topic
RAW_TOPICS: dict[str, str] = {
    "sensor": "raw.sensor",
    "hotline": "raw.hotline",
    "patrol": "raw.patrol",
}
FUSED = "events.fused"
DEADLETTER = "deadletter"
CASES = "cases"
LINKS = "links"
DISPATCH = "dispatch"
UPDATES = "case.updates"
TRANSITIONS = "case.transitions"
CASE_STATE = "case.state"  # the current row of each case after every transition
DEDUP_STATE = "dedup.state"  # compacted changelog of the dedup agent's per-tile state

ALL_TOPICS: tuple[str, ...] = (
    *RAW_TOPICS.values(),
    FUSED,
    DEADLETTER,
    CASES,
    LINKS,
    DISPATCH,
    UPDATES,
    TRANSITIONS,
    CASE_STATE,
    DEDUP_STATE,
)

# Simulated and replayed feeds carry historical timestamps; time-based retention would
# delete them at once, so pipeline topics keep data until an operator says otherwise.
# Messages carry whole batches: allow what the producer may send (16 MiB, factory.py).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_DEFAULT_CONFIG = {"retention.ms": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    DEDUP_STATE: {**_DEFAULT_CONFIG, "cleanup.policy": "compact"},
}


def topic_config(topic: str) -> dict[str, str]:
    """The broker config a logical topic is created with."""
    return dict(TOPIC_CONFIGS.get(topic, _DEFAULT_CONFIG))
