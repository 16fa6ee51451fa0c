"""What BI tools put on their queries, shared by the BI profile's tests.

Grafana's ClickHouse plugin: ``max_execution_time`` (clickhouse-go, from the data source's
query timeout); Metabase's and Superset's drivers: result limits and overflow modes. The
integration test sends exactly these as the BI user; the compose profile must let each
change in readonly mode.
"""

from __future__ import annotations

TOOL_SETTINGS = {
    "max_execution_time": "60",
    "max_result_rows": "100000",
    "result_overflow_mode": "throw",
    "max_result_bytes": "100000000",
    "timeout_overflow_mode": "throw",
}
