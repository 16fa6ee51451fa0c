"""The second peer of the fused dedup path: the same per-event matching on quix-streams.

How quix-streams' documentation would have this job written: an ``Application`` (its
confluent-kafka consumer in a consumer group, its producer, at-least-once checkpoints),
a ``StreamingDataFrame`` over the JSON events with one stateful ``apply`` whose state lives
in the application's RocksDB store (with its changelog topic, quix-streams' default), and
``to_topic`` for one JSON link per event.

State in quix-streams is scoped by the message key, so every event of the city carries one
key (:data:`CITY_KEY`): the matching needs all of them in one place, as the Faust peer's
dict does. The store holds, as JSON values:

* ``max_t``: the largest event time seen (the lateness check);
* ``cell:<cx>:<cy>``: the open cases of a grid cell, ``[case id, category, x, y, last t,
  device]`` each, in the order they opened;
* ``dev:<device>``: ``[cx, cy, case id]`` of each case the device opened, in order.

The rules are the Faust peer's (:class:`bench.e2e.faust_peer.MatchRules`, from
``streams.dedup.engine.build_params``), and candidates are visited in the same order, so
both peers link every event to the same case (``tests/unit/bench/test_bench_quix_peer.py``
checks it on a simulated day). Expired cases go when their cell is next read rather than
in a periodic sweep (a quix-streams state cannot be iterated); a case that old can never
match again, so the links are the same.

Run as a worker: ``python -m bench.e2e.quix_peer`` with the ``CITYSTREAM_*`` settings in
the environment, in the folder that gets its ``state/`` (``PeerProcess(module=MODULE)``).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from bench.e2e.faust_peer import PEER_EVENTS, PEER_LINKS, MatchRules, link_value
from streams.settings import Settings

__all__ = ["CITY_KEY", "MODULE", "StateDedup", "build_app", "main"]

CITY_KEY = b"city"  # the key of every peer event: quix-streams scopes state by it
MODULE = "bench.e2e.quix_peer"

Case = list[Any]  # [case id, category, x, y, last t, device]
_ID, _CAT, _X, _Y, _LAST_T = 0, 1, 2, 3, 4


class KeyValueState(Protocol):
    """What the matching uses of a quix-streams ``State``."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def set(self, key: Any, value: Any) -> None: ...

    def delete(self, key: Any) -> None: ...


def _cell_key(cell: tuple[int, int]) -> str:
    return f"cell:{cell[0]}:{cell[1]}"


class _Cells:
    """The cells one event reads, each loaded once and cleared of expired cases."""

    def __init__(self, state: KeyValueState, window: list[int], horizon: int) -> None:
        self.state, self.window, self.horizon = state, window, horizon
        self.loaded: dict[tuple[int, int], list[Case]] = {}

    def get(self, cell: tuple[int, int]) -> list[Case]:
        cases = self.loaded.get(cell)
        if cases is None:
            stored = self.state.get(_cell_key(cell), [])
            cases = [c for c in stored if c[_LAST_T] + self.window[c[_CAT]] >= self.horizon]
            if len(cases) != len(stored):
                self.put(cell, cases)
            self.loaded[cell] = cases
        return cases

    def put(self, cell: tuple[int, int], cases: list[Case]) -> None:
        if cases:
            self.state.set(_cell_key(cell), cases)
        else:
            self.state.delete(_cell_key(cell))


class StateDedup:
    """Per-event matching over a key-value state of open cases (see the module docstring)."""

    def __init__(self, rules: MatchRules) -> None:
        self.rules = rules
        self.max_lateness = max(rules.lateness, default=0)

    def process(self, event: dict[str, Any], state: KeyValueState) -> tuple[int, bool] | None:
        """``(case id, opened)`` for one event, or None when it is beyond the lateness."""
        r = self.rules
        cat, t, dev = event["category"], event["event_time_ms"], event["device_hash"]
        max_t = state.get("max_t")
        if max_t is not None and t < max_t - r.lateness[cat]:
            return None
        if max_t is None or t > max_t:
            max_t = t
            state.set("max_t", t)
        x, y = r.project(event)
        if r.radius[cat] <= 0:
            return event["event_id"], True
        cells = _Cells(state, r.window, max_t - self.max_lateness)
        found = self._by_device(state, cells, dev, cat, x, y, t) if dev else None
        if found is None:
            cx, cy = r.cell_of(x, y)
            near = [
                (cell, case)
                for cell in ((cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
                for case in cells.get(cell)
            ]
            found = self._nearest(near, cat, x, y, t, False)
        if found is not None:
            cell, case = found
            case[_LAST_T] = max(case[_LAST_T], t)
            cells.put(cell, cells.get(cell))
            return case[_ID], False
        return self._open(state, cells, event, x, y), True

    def _by_device(
        self, state: KeyValueState, cells: _Cells, dev: int, cat: int, x: float, y: float, t: int
    ) -> tuple[tuple[int, int], Case] | None:
        refs = state.get(f"dev:{dev}", [])
        mine = []
        for cx, cy, case_id in refs:
            case = next((c for c in cells.get((cx, cy)) if c[_ID] == case_id), None)
            if case is not None:
                mine.append(((cx, cy), case))
        if len(mine) != len(refs):  # some expired
            live = [[cell[0], cell[1], case[_ID]] for cell, case in mine]
            if live:
                state.set(f"dev:{dev}", live)
            else:
                state.delete(f"dev:{dev}")
        return self._nearest(mine, cat, x, y, t, True)

    def _nearest(
        self,
        candidates: list[tuple[tuple[int, int], Case]],
        cat: int,
        x: float,
        y: float,
        t: int,
        same_device: bool,
    ) -> tuple[tuple[int, int], Case] | None:
        r = self.rules
        best = None
        best_d = math.inf
        for cell, case in candidates:
            c = case[_CAT]
            if not r.compat[cat][c] or abs(t - case[_LAST_T]) > r.window[c]:
                continue
            d = math.hypot(case[_X] - x, case[_Y] - y)
            if (same_device or d <= r.radius[c]) and d < best_d:
                best, best_d = (cell, case), d
        return best

    def _open(
        self, state: KeyValueState, cells: _Cells, event: dict[str, Any], x: float, y: float
    ) -> int:
        cell = self.rules.cell_of(x, y)
        case_id, dev = event["event_id"], event["device_hash"]
        cases = cells.get(cell)
        cases.append([case_id, event["category"], x, y, event["event_time_ms"], dev])
        cells.put(cell, cases)
        if dev:
            state.set(f"dev:{dev}", [*state.get(f"dev:{dev}", []), [cell[0], cell[1], case_id]])
        return int(case_id)


def build_app(settings: Settings) -> Any:
    """The quix-streams application: events -> stateful matching -> links."""
    from quixstreams import Application

    from streams.dedup.build import make_engine

    engine = make_engine(settings)
    dedup = StateDedup(MatchRules.of(engine.params, engine.spec))
    app = Application(
        broker_address=settings.kafka.bootstrap_servers,
        consumer_group=settings.worker.app_id,
        auto_offset_reset="earliest",
        loglevel="WARNING",
    )
    events = app.topic(settings.kafka.topic(PEER_EVENTS), value_deserializer="json")
    links = app.topic(
        settings.kafka.topic(PEER_LINKS), key_serializer="str", value_serializer="json"
    )
    sdf = app.dataframe(events)
    sdf = sdf.apply(
        lambda event, state: link_value(event["event_id"], dedup.process(event, state)),
        stateful=True,
    )
    sdf.to_topic(links, key=lambda link: str(link["case_id"]))
    return app


def main() -> None:
    from streams.settings import load_settings

    build_app(load_settings()).run()


if __name__ == "__main__":
    main()
