"""The one list of Kafka topics: logical names, per-topic configs and size limits. No I/O."""

from __future__ import annotations

from aiokafka.partitioner import murmur2

from streams.contracts.sources import SOURCES
from streams.contracts.tracks import FEED as TRACK_FEED

__all__ = [
    "ALL_TOPICS",
    "API_AUDIT",
    "CASES",
    "CASE_STATE",
    "DEADLETTER",
    "DEDUP_STATE",
    "DISPATCH",
    "ESCALATIONS",
    "FUSED",
    "LINKS",
    "MAX_MESSAGE_BYTES",
    "PATROL_SESSIONS",
    "PATROL_STATE",
    "PATROL_TRACK",
    "PATROL_VISITS",
    "RAW_FEEDS",
    "RAW_TOPICS",
    "REQUEST_UPDATES",
    "TOPIC_CONFIGS",
    "TOPIC_TABLES",
    "TRANSITIONS",
    "UPDATES",
    "VERIFY_TASKS",
    "default_partition",
    "topic_config",
]

# source name (as in the fused ``source`` column and dead letters) -> raw topic
RAW_TOPICS: dict[str, str] = {source: f"raw.{source}" for source in SOURCES}
# Raw feeds that are not report channels: no report source, never normalized into events,
# and not waited for by dedup's watermarks. Feed name (as in dead letters' ``source``) ->
# raw topic. The patrol terminals' position pings (streams/contracts/tracks.py) go to the
# patrol stage, not to the normalizer.
RAW_FEEDS: dict[str, str] = {TRACK_FEED: f"raw.{TRACK_FEED}"}
PATROL_TRACK = RAW_FEEDS[TRACK_FEED]
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
REQUEST_UPDATES = "hotline.updates"  # re-published hotline requests: status and notes
PATROL_SESSIONS = "patrol.sessions"  # closed patrol sessions with their visits, by device
PATROL_VISITS = "patrol.visits"  # one record per street segment visit, by device
PATROL_STATE = "patrol.state"  # compacted changelog of the patrols stage's open sessions
API_AUDIT = "api.audit"  # every write the api role accepted, with the key id that made it

ALL_TOPICS: tuple[str, ...] = (
    *RAW_TOPICS.values(),
    *RAW_FEEDS.values(),
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
    REQUEST_UPDATES,
    PATROL_SESSIONS,
    PATROL_VISITS,
    PATROL_STATE,
    API_AUDIT,
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
    REQUEST_UPDATES: "request_updates",
    PATROL_SESSIONS: "patrol_sessions",
    PATROL_VISITS: "patrol_segment_visits",
    API_AUDIT: "api_audit",
}

# Simulated and replayed feeds carry historical timestamps; time-based retention would
# delete them at once, so pipeline topics keep data until an operator says otherwise.
# Messages carry whole batches: allow what the producer may send (16 MiB, factory.py).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_DEFAULT_CONFIG = {"retention.ms": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    DEDUP_STATE: {**_DEFAULT_CONFIG, "cleanup.policy": "compact"},
    PATROL_STATE: {**_DEFAULT_CONFIG, "cleanup.policy": "compact"},
}


def topic_config(topic: str) -> dict[str, str]:
    """The broker config a logical topic is created with."""
    return dict(TOPIC_CONFIGS.get(topic, _DEFAULT_CONFIG))


def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed message (murmur2, as the
    Java client, kafka-python and aiokafka choose it): a sender that fills whole record
    batches per partition must put each key where any other producer would."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
