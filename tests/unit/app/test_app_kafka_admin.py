"""ensure_topics' readiness rule for one partition as kafka-python describes it (the
broker's answer is checked in tests/integration/test_intake_broker.py)."""

from __future__ import annotations

import pytest

from streams.app.kafka_admin import _led


@pytest.mark.parametrize(
    ("partition", "ready"),
    [
        ({"partition_index": 0, "leader_id": 1, "error_code": 0}, True),
        ({"partition_index": 0, "leader_id": 0, "error_code": 0}, True),
        ({"partition_index": 0, "leader_id": -1, "error_code": 0}, False),
        ({"partition_index": 0, "leader_id": 1, "error_code": 5}, False),  # LEADER_NOT_AVAILABLE
        ({"partition_index": 0, "error_code": 0}, False),
    ],
)
def test_a_partition_is_ready_once_it_has_a_leader(partition: dict[str, int], ready: bool) -> None:
    assert _led(partition) is ready
