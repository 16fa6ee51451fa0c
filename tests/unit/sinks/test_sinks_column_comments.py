"""Every stored column carries a comment for the BI tools (migration column_comments)."""

from __future__ import annotations

from sinks.sql import ChdbExecutor
from sinks.tables import TABLES


def test_every_table_column_has_a_comment(chdb_executor: ChdbExecutor, migrated_db: str) -> None:
    rows = chdb_executor.query(
        f"SELECT table, name, comment FROM system.columns WHERE database = '{migrated_db}'"
    )
    comments = {(r["table"], r["name"]): r["comment"] for r in rows}
    tables = {*TABLES, "schema_migrations"}
    for table in tables:
        columns = {name: text for (t, name), text in comments.items() if t == table}
        assert columns, f"{table} is not in the migrated database"
        missing = sorted(name for name, text in columns.items() if not text.strip())
        assert missing == [], f"{table}: columns without a comment"
    assert "\\" not in comments[("events", "source_ref")]  # an escaped quote reads as one
    assert comments[("events", "source_ref")] == "the source system's own id of the report"
