"""Helpers of the end-to-end benchmarks (``bench/test_bench_e2e.py``).

* :mod:`bench.e2e.kafka_io`: fast produce and tail (aiokafka), readiness, clean-up;
* :mod:`bench.e2e.feed`: a simulated day normalized offline into fused messages;
* :mod:`bench.e2e.faust_peer`: the idiomatic per-event Faust agent the fused path is
  compared with;
* :mod:`bench.e2e.latency`: raw records at a steady rate and arrival-to-dispatch latency;
* :mod:`bench.e2e.ch_kafka`: ClickHouse's own Kafka table engine on a raw topic.

Nothing runs at import time; the benchmark file drives these against the real services.
"""

__all__: list[str] = []
