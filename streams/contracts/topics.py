"""The one list of Kafka topics: logical names, per-topic configs and size limits. No I/O."""

from __future__ import annotations

from streams.contracts.sources import SOURCES

__all__ = [
    "ALL_TOPICS",
    "CASES",
    "CASE_STATE",
    "DEADLETTER",
    "DEDUP_STATE",
    "DISPATCH",
    "ESCALATIONS",
    "FUSED",
    "LINKS",
    "MAX_MESSAGE_BYTES",
    "RAW_TOPICS",
    "TOPIC_CONFIGS",
    "TOPIC_TABLES",
    "TRANSITIONS",
    "UPDATES",
    "VERIFY_TASKS",
    "topic_config",
]

# source name (as in the fused ``source`` column and dead letters) -> raw topic
RAW_TOPICS: dict[str, str] = {source: f"raw.{source}" for source in SOURCES}
FUSED = "events.fused"
DEADLETTER = "deadletter"
CASES = "cases"
LINKS = "links"
DISPATCH = "dispatch"
UPDATES = "case.updates"
TRANSITIONS = "case.transitions"
CASE_STATE = "case.state"  # the current row of each case after every transition
VERIFY_TASKS = "verify.tasks"  # verifications (核查) to do, then settled; keyed by case id
ESCALATIONS = "case.escalations"  # 催办/督办 and up the ladder, once per case and level
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
    VERIFY_TASKS,
    ESCALATIONS,
    DEDUP_STATE,
)

# logical topic -> the ClickHouse table its records are stored in (docs/contracts.md).
# ``cases`` (dedup's new cases) is not stored as such: dispatch and lifecycle turn each
# into ``case.state`` records, which are.
TOPIC_TABLES: dict[str, str] = {
    FUSED: "events",
    LINKS: "links",
    TRANSITIONS: "case_stages",
    DISPATCH: "dispatches",
    DEADLETTER: "dead_letters",
    CASE_STATE: "cases",
    VERIFY_TASKS: "verify_tasks",
    ESCALATIONS: "escalations",
}

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
