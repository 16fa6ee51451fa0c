"""``read_links`` bookkeeping over links messages, with the broker read stubbed out."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from streams import runner
from streams.contracts.columnar import encode_columns
from streams.settings import Settings


def _links(event_ids: list[int], case_ids: list[int]) -> bytes:
    return encode_columns(
        "links",
        {
            "event_id": np.array(event_ids, dtype=np.uint64),
            "case_id": np.array(case_ids, dtype=np.uint64),
            "source_ref": [f"ref-{e}" for e in event_ids],
            "flags": np.array([e % 7 for e in event_ids], dtype=np.uint8),
        },
    )


def test_duplicates_and_conflicts_are_counted(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = 2**63 + 1
    messages = [
        _links([1, 2, big], [1, 1, big]),
        _links([3], [1]),
        _links([2, big], [1, 1]),  # 2 redelivered as is; big relinked to another case
    ]
    topics: list[str] = []

    def fake_read_topic(s: Settings, topic: str, timeout_s: float = 5.0) -> Iterator[Any]:
        topics.append(topic)
        return iter([SimpleNamespace(value=m) for m in messages])

    monkeypatch.setattr(runner, "read_topic", fake_read_topic)
    links = runner.read_links(settings.replace(topic_prefix="t1-"))
    assert topics == ["t1-links"]
    assert links.case_of == {1: 1, 2: 1, 3: 1, big: 1}
    assert links.source_ref[big] == f"ref-{big}"
    assert links.flags == {1: 1, 2: 2, 3: 3, big: big % 7}
    assert (links.duplicates, links.conflicts) == (2, 1)
    assert links.cases == {1}
