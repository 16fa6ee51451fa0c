#!/bin/bash
# Runs once, on the first start of the clickhouse/clickhouse-server container (empty data
# volume): creates the BI account, which may only read the pipeline database. On an
# existing deployment run the same statements by hand (docs/operations.md, "Upgrade").
#
# readonly = 1 refuses every write, DDL and SET; BI tools (Grafana's ClickHouse plugin,
# Metabase, Superset, Tableau) send per-query limits such as max_execution_time, which
# readonly = 1 alone rejects. The constraints below let exactly those change, within
# bounds (CHANGEABLE_IN_READONLY, ClickHouse 22.x and later); docs/bi/connect.md.
set -euo pipefail
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS ${CITYSTREAM_CLICKHOUSE_DATABASE};
CREATE SETTINGS PROFILE OR REPLACE bi_readonly SETTINGS
    readonly = 1,
    max_execution_time = 300 MIN 1 MAX 1800 CHANGEABLE_IN_READONLY,
    timeout_overflow_mode CHANGEABLE_IN_READONLY,
    max_result_rows CHANGEABLE_IN_READONLY,
    max_result_bytes CHANGEABLE_IN_READONLY,
    result_overflow_mode CHANGEABLE_IN_READONLY,
    max_rows_to_read CHANGEABLE_IN_READONLY,
    max_bytes_to_read CHANGEABLE_IN_READONLY,
    read_overflow_mode CHANGEABLE_IN_READONLY,
    max_memory_usage = 4000000000 MIN 1000000 MAX 8000000000 CHANGEABLE_IN_READONLY,
    max_threads MAX 8 CHANGEABLE_IN_READONLY,
    max_block_size CHANGEABLE_IN_READONLY,
    output_format_json_quote_64bit_integers CHANGEABLE_IN_READONLY,
    date_time_output_format CHANGEABLE_IN_READONLY,
    session_timezone CHANGEABLE_IN_READONLY;
CREATE USER IF NOT EXISTS ${CITYSTREAM_CLICKHOUSE_BI_USER}
    IDENTIFIED WITH sha256_password BY '${CITYSTREAM_CLICKHOUSE_BI_PASSWORD}'
    SETTINGS PROFILE 'bi_readonly';
ALTER USER ${CITYSTREAM_CLICKHOUSE_BI_USER} SETTINGS PROFILE 'bi_readonly';
GRANT SELECT ON ${CITYSTREAM_CLICKHOUSE_DATABASE}.* TO ${CITYSTREAM_CLICKHOUSE_BI_USER};
SQL
