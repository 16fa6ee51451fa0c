"""Every use of Faust's internals, in one place: re-check this module on a Faust upgrade.

- the app's transport (``App._new_transport``), with a cheaper per-message hand-off;
- the consumer's read and committed offsets (``Consumer._read_offset`` and
  ``_committed_offset``), for lag and for knowing a raw partition is caught up, and when
  it last had a fetch response for a partition (aiokafka's ``last_poll_timestamp``);
- no stream records while the group rebalances, and a seek for partitions without a
  committed offset (``Consumer._getmany``, ``seek_to_committed``);
- a table write whose changelog record can be awaited (``Table.send_changelog`` and
  ``Table.data``, :func:`write_through`);
- work that must be on the broker before an offset commit (``Consumer.commit``,
  :func:`guard_commits`);
- fetching paused for some partitions, as back-pressure (``Consumer.pause_partitions``
  and ``resume_partitions``, as Faust's own flow control uses them: :func:`hold_partitions`);
- raw topics, ``events.fused`` and ``cases`` consumed in bulk (:class:`BulkChannel`): their records
  are taken out of the fetched record map and acknowledged by offset range (``Consumer._acked``,
  ``_acked_index``, ``_read_offset``, ``_committed_offset``, ``_paused_partitions``,
  ``wait_empty``);
- an agent that raises ends the worker process (``App._on_agent_error``).

Why each is needed is written beside it: :mod:`.handoff` (the per-message hand-off),
:mod:`.consumer` (rebalances, agent errors, commit guards), :mod:`.bulk` (topics consumed in
bulk), :mod:`.access` (tables, pauses and offsets).
"""

from streams.app.faust_internals.access import (
    committed_offset,
    hold_partitions,
    last_poll_ms,
    last_read_offset,
    write_through,
)
from streams.app.faust_internals.bulk import (
    BulkChannel,
    RawBatch,
    batches_of_events,
    bulk_channel,
    bulk_task,
)
from streams.app.faust_internals.consumer import (
    AGENT_ERROR_EXIT,
    App,
    Consumer,
    Transport,
    guard_commits,
)
from streams.app.faust_internals.handoff import (
    HANDOFFS,
    Handoffs,
    Resumed,
    run_until_suspended,
)

__all__ = [
    "AGENT_ERROR_EXIT",
    "HANDOFFS",
    "App",
    "BulkChannel",
    "Consumer",
    "Handoffs",
    "RawBatch",
    "Resumed",
    "Transport",
    "batches_of_events",
    "bulk_channel",
    "bulk_task",
    "committed_offset",
    "guard_commits",
    "hold_partitions",
    "last_poll_ms",
    "last_read_offset",
    "run_until_suspended",
    "write_through",
]
