"""Clock ticks: the centre's time, in band on ``case.state``.

The escalation ladder needs a "now" to raise the levels of cases nobody touches. A clock
read from the records themselves (the latest opening seen, say) runs ahead of answers
still in flight: a department's feedback dated before a threshold can reach the ladder
after a newer case moved the clock past it, and whether it does depends on how the
topics are partitioned and how fast each worker turns. So the time is a record too: a
tick, written to every partition of ``case.state`` behind the case rows already there.
Everything before a tick in a partition is what the centre knew at that time.

Who ticks (``CITYSTREAM_ESCALATION_CLOCK``): ``wall``, the escalation workers, with the
wall clock every ``CITYSTREAM_ESCALATION_TICK_S`` (live operation, where answers are dated
when sent); ``feed``, whoever replays history (the demo, the tests), once the loop has
answered what was fed up to that time (:func:`streams.runner.tick_clock`).

A tick's key is not a case id (those are decimal digits), so compaction keeps the
latest tick of each partition and case readers tell the two apart by the key alone.
"""

from __future__ import annotations

import orjson

__all__ = ["CLOCK_KEY", "is_tick", "tick_time", "tick_value"]

CLOCK_KEY = b"clock"


def is_tick(key: bytes | None) -> bool:
    return key == CLOCK_KEY


def tick_value(at_ms: int) -> bytes:
    """The value of a tick at ``at_ms`` (epoch ms)."""
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms < 0:
        raise ValueError(f"a clock tick needs epoch ms >= 0, got {at_ms!r}")
    return orjson.dumps({"clock_ms": at_ms})


def tick_time(value: bytes) -> int:
    """The time of a tick's value; ValueError for anything else."""
    decoded = orjson.loads(value)
    at = decoded.get("clock_ms") if isinstance(decoded, dict) else None
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise ValueError(f"not a clock tick: {value[:80]!r}")
    return at
