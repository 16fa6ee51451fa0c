"""A keyed message goes where Kafka's Java client would put it."""

from __future__ import annotations

import pytest

from streams.contracts.topics import default_partition

# Kafka's own murmur2 vectors (the Java client's UtilsTest), as signed 32-bit ints
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("partitions", [1, 6, 12, 7])
def test_the_partition_is_the_java_clients(partitions: int) -> None:
    for key, hashed in JAVA_MURMUR2.items():
        assert default_partition(key, partitions) == (hashed & 0x7FFFFFFF) % partitions


def test_keys_spread_over_every_partition() -> None:
    seen = {default_partition(f"device-{i}".encode(), 12) for i in range(500)}
    assert seen == set(range(12))
