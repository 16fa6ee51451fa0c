"""``case.state`` records for the escalation tests (the ladder's core and its agent)."""

from __future__ import annotations

from typing import Any

H = 3_600_000
T0 = 1_690_765_200_000  # 2023-07-31 09:00 +08:00


def case_state(
    case_id: int = 42, status: str = "dispatched", seq: int = 1, **fields: Any
) -> dict[str, Any]:
    """A case.state record: dispatched at T0 with 10 h to go unless told otherwise."""
    row = {
        "case_id": case_id,
        "version": seq << 32,
        "category_key": "E0102",
        "department": "sanitation",
        "grid_code": "410611001001001",
        "street": "410611001",
        "status": status,
        "opened_at": T0 - H,
        "dispatched_at": T0,
        "deadline": T0 + 10 * H,
        "signed_at": 0,
        "handled_at": 0,
        "closed_at": 0,
        "voided_at": 0,
        "hold_s": 0,
    }
    return {**row, **fields}
