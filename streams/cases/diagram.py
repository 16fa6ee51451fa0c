"""The case state machine as a Mermaid diagram and a table of who may do what, by when.

Generated from :data:`~streams.cases.transitions.TRANSITIONS` and :data:`ACTION_RULES`;
``docs/case-lifecycle.md`` holds the output and a unit test keeps the two equal, so the
documentation cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from streams.cases.transitions import TRANSITIONS, Action, Status

__all__ = ["ACTION_RULES", "mermaid", "rules_table"]

# action -> (who may make it, its time limit). The state machine checks the department of
# every update and the actor of verifications; the other actors are by convention.
ACTION_RULES: Mapping[Action, tuple[str, str]] = MappingProxyType(
    {
        Action.DISPATCH: (
            "the centre (dispatch agent)",
            "from the opening: 10 min urgent, 30 min normal (`DISPATCH_LIMIT_*`)",
        ),
        Action.CLOSE_ON_SPOT: ("the inspector who reported it (patrol)", "with the report"),
        Action.SIGN: ("the case's department", "none enforced"),
        Action.HANDLE: (
            "the case's department",
            "the category's limit from the dispatch (`categories.csv`), working time "
            "(clock time when urgent); paused while on hold",
        ),
        Action.VERIFY_OK: (
            "the verify task's supervisor (the reporting inspector for patrol cases, else "
            "the roster's supervisor on duty) or the centre",
            "from the feedback: 1 h urban, 2 h rural, clock (`VERIFY_LIMIT_*`)",
        ),
        Action.VERIFY_FAIL: ("as verify_ok, with the reason in `note`", "as verify_ok"),
        Action.HOLD: ("the centre (an approved 缓办)", "none; pauses the handling limit"),
        Action.RESUME: (
            "the centre",
            "none; the handling deadline moves on by the time on hold",
        ),
        Action.VOID: ("the centre (作废)", "none; a voided case leaves every due count"),
        Action.RETURN: (
            "the case's department (退单), with the reason in `note` and optionally "
            "`to_department`",
            "from the (re-)dispatch: 2 working hours, clock when urgent "
            "(`DISPATCH_RETURN_LIMIT_HOURS`)",
        ),
        Action.REDISPATCH: (
            "the centre (lifecycle agent, at once): to the named department, else by the "
            "category rule",
            "at the return; the handling limit restarts from it",
        ),
        Action.CALLBACK: (
            "the centre's callback desk (回访), hotline cases only, once per closure, with "
            "`result` satisfied, basically_satisfied, unsatisfied or unreachable",
            "none",
        ),
        Action.REOPEN: (
            "the centre (lifecycle agent, at once) after an unsatisfied callback, once per "
            "case; the department's next feedback is verified again",
            "at the callback; the original handling deadline stays",
        ),
    }
)


# the same, short, for the diagram's edge labels
_LABELS: Mapping[Action, str] = MappingProxyType(
    {
        Action.DISPATCH: "centre, ≤ 10 min urgent / 30 min",
        Action.CLOSE_ON_SPOT: "reporting inspector",
        Action.SIGN: "department",
        Action.HANDLE: "department, ≤ category limit",
        Action.VERIFY_OK: "supervisor or centre, ≤ 1 h urban / 2 h rural",
        Action.VERIFY_FAIL: "supervisor or centre, ≤ 1 h urban / 2 h rural",
        Action.HOLD: "centre, pauses the limit",
        Action.RESUME: "centre, deadline moved on",
        Action.VOID: "centre",
        Action.RETURN: "department, ≤ 2 working h from dispatch",
        Action.REDISPATCH: "centre, deadline restarts",
        Action.CALLBACK: "callback desk, hotline cases",
        Action.REOPEN: "centre, after an unsatisfied callback",
    }
)


def _edges() -> list[tuple[Status, Action, Status]]:
    held_from = sorted({f for (f, a) in TRANSITIONS if a is Action.HOLD}, key=list(Status).index)
    edges: list[tuple[Status, Action, Status]] = []
    for (source, action), target in TRANSITIONS.items():
        targets = held_from if target is None else [target]
        edges.extend((source, action, t) for t in targets)
    return edges


def mermaid() -> str:
    """A ``stateDiagram-v2`` with every transition (resume: to each status a hold starts from)."""
    lines = ["stateDiagram-v2", f"    [*] --> {Status.OPENED.value}"]
    for source, action, target in _edges():
        label = f"{action.value} ({_LABELS[action]})"
        lines.append(f"    {source.value} --> {target.value}: {label}")
    for status in (Status.CLOSED, Status.VOIDED):
        lines.append(f"    {status.value} --> [*]")
    return "\n".join(lines) + "\n"


def rules_table() -> str:
    """A Markdown table: action, from -> to, who, time limit."""
    rows = ["| action | transitions | who | time limit |", "|---|---|---|---|"]
    for action in Action:
        steps = ", ".join(f"{s.value} → {t.value}" for s, a, t in _edges() if a is action)
        who, limit = ACTION_RULES[action]
        rows.append(f"| `{action.value}` | {steps} | {who} | {limit} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # regenerate the blocks of docs/case-lifecycle.md
    print("```mermaid\n" + mermaid() + "```\n\n" + rules_table(), end="")
