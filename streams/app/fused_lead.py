"""How far a process's normalize role runs ahead of its dedup role on ``events.fused``.

Why: the dedup reorder buffer holds the events that came in before the watermark lets
them go. Pausing the raw partitions ahead of the watermark (``sources_ahead``) stops new
ones, but every event the normalizer has already sent to ``events.fused`` still reaches the
buffer: in a catch-up the normalizer runs far ahead, and the buffer overshot its bound
three times over. Pausing ``events.fused`` itself cannot help: the watermark frames that
release the buffer come on the same partition, after those events. So the normalizer's
lead is bounded instead: it counts the events it sends to each fused partition (by the
offset the broker gave the message), the dedup role counts off what it has handled, and
while the difference on the partitions this process's dedup role owns is at a quarter of
``max_pending_events``, the raw partitions pause and the normalize role takes no batch.

Within one process (the roles ``normalize`` and ``dedup`` together, as the default
topology and the benches run them) the dedup role counts off each batch it handles. A
normalize role without dedup in its process (one process per role, as compose runs it)
arms the lead *remotely*: it counts every fused partition it sends to, and what the dedup
groups have committed on ``events.fused`` counts off (``handled_upto``, polled by the
normalize role), so the bound holds across processes, one commit interval coarser
(docs/benchmarks-e2e.md, "Memory stays bounded").
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

from streams.app.factory import roles_of_group
from streams.app.faust_internals import hold_partitions
from streams.app.kafka_admin import GroupProgress
from streams.app.metrics import Metrics
from streams.contracts.topics import FUSED, RAW_TOPICS
from streams.settings import Settings

__all__ = ["FusedLead", "follow_remote_dedup", "fused_lead", "lead_budget"]

log = logging.getLogger(__name__)

# how often a normalize role without dedup reads the dedup groups' committed offsets; they
# move once per commit interval (broker_commit_interval, 1 s), so faster gains nothing
FOLLOW_S = 0.5


class FusedLead:
    """Events sent to ``events.fused`` by this process and not yet handled by its dedup
    role, per fused partition. Counting starts once the dedup role arms it."""

    def __init__(self) -> None:
        self.armed = False  # a dedup role runs in this process, or remote (arm)
        self.remote = False  # dedup runs elsewhere: its committed offsets count off
        # remote: a live group runs dedup (else nobody reads events.fused to wait for)
        self.followed = True
        self.fused_topic = ""
        self.budget = 0  # events: the lead from which the normalize role waits
        self.unacked = 0  # events of messages whose partition and offset are not known yet
        self._sent: dict[int, deque[tuple[int, int]]] = {}  # partition -> (offset, events)
        self._ahead: dict[int, int] = {}  # partition -> events in _sent
        self.changed = asyncio.Event()  # set whenever the lead may have dropped

    def arm(self, fused_topic: str, max_pending_events: int, remote: bool = False) -> None:
        """Count from now on: a dedup role on ``fused_topic`` runs in this process, or
        (``remote``) in others, whose committed offsets are given to :meth:`handled_upto`."""
        self.armed, self.fused_topic, self.remote = True, fused_topic, remote
        self.budget = lead_budget(max_pending_events)

    def owned(self, app: Any) -> set[int]:
        """The fused partitions assigned to this process (its dedup role's); remote: every
        partition this process sent to."""
        if self.remote:
            return set(self._ahead)
        consumer = app.consumer
        if consumer is None:
            return set()
        return {tp.partition for tp in consumer.assignment() if tp.topic == self.fused_topic}

    def over(self, app: Any, budget: int | None = None) -> bool:
        """Whether the lead is at ``budget`` (default: :attr:`budget`) or more."""
        if not self.armed or not self.followed:
            return False
        return self.events(self.owned(app)) >= (self.budget if budget is None else budget)

    def track(self, future: Any, events: int) -> None:
        """Count a fused message of ``events`` events being sent (``future``: Faust's
        send future, done with the record's metadata once the broker has it)."""
        if not self.armed or events == 0:
            return
        self.unacked += events
        future.add_done_callback(lambda f: self._acked(f, events))

    def _acked(self, future: Any, events: int) -> None:
        self.unacked -= events
        if not future.cancelled() and future.exception() is None:
            meta = future.result()
            partition, offset = int(meta.partition), int(meta.offset)
            self._sent.setdefault(partition, deque()).append((offset, events))
            self._ahead[partition] = self._ahead.get(partition, 0) + events
        self._notify()

    def handled(self, partition: int, last_offset: int) -> None:
        """The dedup role handled ``partition`` up to ``last_offset``."""
        sent = self._sent.get(partition)
        if not sent:
            return
        dropped = 0
        while sent and sent[0][0] <= last_offset:
            dropped += sent.popleft()[1]
        if dropped:
            self._ahead[partition] -= dropped
            self._notify()

    def handled_upto(self, committed: dict[int, int]) -> None:
        """The dedup groups committed ``committed`` (partition -> next offset to read)."""
        for partition, offset in committed.items():
            self.handled(partition, offset - 1)

    def events(self, owned: Iterable[int]) -> int:
        """The lead over the fused partitions ``owned`` by this process's dedup role (sends
        to the others are another process's to bound), plus the unacknowledged sends."""
        return self.unacked + sum(self._ahead.get(p, 0) for p in owned)

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions the dedup role gave up: what it did not handle is not ours to count."""
        for p in partitions:
            self._sent.pop(p, None)
            self._ahead.pop(p, None)
        self._notify()

    def notify(self) -> None:
        """Wake the waiters: the lead or the partitions held may have changed."""
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed.clear()  # waiters already woken; later ones wait for the next change


def lead_budget(max_pending_events: int) -> int:
    """The normalizer's lead from which it waits: a quarter of the bound, as the sources'
    alignment starts at a quarter of it in the buffer; with the batches in hand the buffer
    stays under the bound."""
    return max_pending_events // 4


def fused_lead(app: Any) -> FusedLead:
    """The process's one :class:`FusedLead` (the normalize and dedup roles share it)."""
    lead: FusedLead | None = getattr(app, "fused_lead", None)
    if lead is None:
        lead = app.fused_lead = FusedLead()
    return lead


def follow_remote_dedup(app: Any, settings: Settings, lead: FusedLead, metrics: Metrics) -> None:
    """In a process with the normalize role and without dedup: arm ``lead`` remotely and,
    every :data:`FOLLOW_S`, count off what the live groups running dedup have committed on
    events.fused; while the lead is at its budget (until under half of it) every raw
    partition of this process pauses, and the normalize role's gate waits on it. While no
    group runs dedup (a normalize,sink ingest, or dedup not started yet) nothing waits."""
    fused_topic = settings.kafka.topic(FUSED)
    lead.arm(fused_topic, settings.pipeline.max_pending_events, remote=True)
    raw_topics = {settings.kafka.topic(t) for t in RAW_TOPICS.values()}
    progress = GroupProgress(settings)
    holding = failing = False

    def runs_dedup(group: str) -> bool:
        roles = roles_of_group(settings, group)
        return roles is not None and "dedup" in roles

    async def follow() -> None:
        nonlocal holding, failing
        loop = asyncio.get_running_loop()
        try:
            committed = await loop.run_in_executor(
                None, progress.committed, runs_dedup, fused_topic
            )
        except Exception as exc:  # the broker or the coordinator moving: try again later
            # once per outage, not every half second; the lead stands meanwhile
            if not failing:
                log.warning("dedup's progress on %s not read (retrying): %s", fused_topic, exc)
            failing = True
            return
        failing = False
        lead.followed = committed is not None
        if committed is None:  # what no dedup reads is not a lead (and not kept in memory)
            lead.forget(list(lead.owned(app)))
        else:
            lead.handled_upto(committed)
        was_holding = holding
        holding = lead.over(app, lead.budget // 2 if holding else None)
        consumer = app.consumer
        if consumer is None:
            return
        wanted = {
            (tp.topic, tp.partition) for tp in consumer.assignment() if tp.topic in raw_topics
        }
        if holding or app.held:
            held = hold_partitions(app, wanted if holding else set())
            metrics.set("citystream_raw_partitions_held", float(held))
            if holding and not was_holding:
                metrics.inc("citystream_backpressure_holds_total")
                log.info(
                    "%d events sent ahead of dedup: %d raw partitions paused",
                    lead.events(lead.owned(app)),
                    held,
                )
        lead.notify()

    app.timer(FOLLOW_S, name="normalize-follow-dedup")(follow)
