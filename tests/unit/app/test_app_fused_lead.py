"""The normalizer's lead on events.fused (streams/app/fused_lead.py): counted per fused
partition from the offsets the broker gave, counted off by what dedup handled, and only
over the partitions this process owns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from streams.app.fused_lead import FusedLead, fused_lead, lead_budget


@dataclass(frozen=True)
class _Meta:
    partition: int
    offset: int


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


class _Consumer:
    def __init__(self, tps: list[_TP]) -> None:
        self.tps = tps

    def assignment(self) -> set[_TP]:
        return set(self.tps)


class _App:
    def __init__(self, owned: list[int]) -> None:
        self.consumer = _Consumer([_TP("events.fused", p) for p in owned] + [_TP("raw.x", 0)])


def _sent(lead: FusedLead, loop: asyncio.AbstractEventLoop, events: int) -> Any:
    future = loop.create_future()
    lead.track(future, events)
    return future


def test_the_lead_counts_acknowledged_sends_per_partition_until_handled() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        lead = FusedLead()
        lead.arm("events.fused", 4096)
        app = _App(owned=[0])
        a, b, c = (_sent(lead, loop, n) for n in (100, 200, 400))
        seen = [lead.events({0})]  # all unacknowledged: counted wherever they go
        a.set_result(_Meta(0, 10))
        b.set_result(_Meta(0, 11))
        c.set_result(_Meta(1, 5))  # another process's partition
        await asyncio.sleep(0)  # the done callbacks
        seen += [lead.events(lead.owned(app)), int(lead.over(app)), int(lead.over(app, 300))]
        lead.handled(0, 10)
        seen.append(lead.events({0}))
        lead.forget({0})
        seen.append(lead.events({0, 1}))
        return seen

    assert asyncio.run(main()) == [700, 300, 0, 1, 200, 400]


def test_nothing_is_counted_without_a_dedup_role_in_the_process() -> None:
    async def main() -> int:
        lead = FusedLead()
        future = _sent(lead, asyncio.get_running_loop(), 100)
        future.set_result(_Meta(0, 0))
        await asyncio.sleep(0)
        return lead.events({0}) + int(lead.over(_App(owned=[0]), 1))

    assert asyncio.run(main()) == 0


def test_a_failed_send_leaves_no_lead_and_the_process_shares_one() -> None:
    async def main() -> int:
        lead = FusedLead()
        lead.arm("events.fused", 4096)
        future = _sent(lead, asyncio.get_running_loop(), 100)
        future.set_exception(RuntimeError("broker gone"))
        await asyncio.sleep(0)
        future.exception()  # retrieved: no "never retrieved" warning
        return lead.events({0})

    assert asyncio.run(main()) == 0
    app = type("A", (), {})()
    assert fused_lead(app) is fused_lead(app)
    assert lead_budget(1024) == 256


def test_remote_the_lead_is_every_partition_sent_to_counted_off_by_commits() -> None:
    # one process per role: this normalizer's sends to any fused partition count, and the
    # dedup groups' committed offsets (the next record each reads) count them off
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        lead = FusedLead()
        lead.arm("events.fused", 4096, remote=True)
        app = _App(owned=[])  # this process reads no fused partition
        for events, meta in ((100, _Meta(0, 10)), (200, _Meta(1, 3)), (400, _Meta(1, 4))):
            _sent(lead, loop, events).set_result(meta)
        await asyncio.sleep(0)
        seen = [lead.events(lead.owned(app)), int(lead.over(app, 700)), int(lead.over(app, 701))]
        lead.handled_upto({0: 10, 1: 4})  # offset 10 not read yet on 0; 3 read on 1
        seen.append(lead.events(lead.owned(app)))
        lead.handled_upto({0: 11, 1: 5})
        seen.append(lead.events(lead.owned(app)))
        return seen

    assert asyncio.run(main()) == [700, 1, 0, 500, 0]


def test_remote_without_a_dedup_group_nothing_waits() -> None:
    lead = FusedLead()
    lead.arm("events.fused", 4096, remote=True)
    lead.unacked = 5000  # far over the budget
    app = _App(owned=[])
    assert lead.over(app)
    lead.followed = False  # no live group runs dedup (a normalize,sink ingest)
    assert not lead.over(app)
