"""docs/case-lifecycle.md shows the state machine the code runs: no drift."""

from __future__ import annotations

from pathlib import Path

from streams.cases.diagram import ACTION_RULES, mermaid, rules_table
from streams.cases.transitions import TRANSITIONS, Action, Status

DOC = Path(__file__).resolve().parents[3] / "docs" / "case-lifecycle.md"


def test_the_doc_holds_the_generated_diagram_and_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "```mermaid\n" + mermaid() + "```\n" in text, (
        "regenerate: python -m streams.cases.diagram"
    )
    assert rules_table() in text, "regenerate: python -m streams.cases.diagram"


def test_every_transition_is_an_edge_and_every_action_has_a_rule() -> None:
    diagram = mermaid()
    for (source, action), target in TRANSITIONS.items():
        targets = [Status.DISPATCHED, Status.SIGNED] if target is None else [target]
        for t in targets:
            assert f"    {source.value} --> {t.value}: {action.value} (" in diagram
    edges = [line for line in diagram.splitlines() if ": " in line]
    assert len(edges) == len(TRANSITIONS) + 1  # resume has two targets
    assert set(ACTION_RULES) == set(Action)
    for action in Action:
        assert f"| `{action.value}` |" in rules_table()
