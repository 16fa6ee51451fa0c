#!/bin/bash
# Runs once, on the first start of the clickhouse/clickhouse-server container (empty data
# volume): creates the BI account, which may only read the pipeline database.
set -euo pipefail
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS ${CITYSTREAM_CLICKHOUSE_DATABASE};
CREATE USER IF NOT EXISTS ${CITYSTREAM_CLICKHOUSE_BI_USER}
    IDENTIFIED WITH sha256_password BY '${CITYSTREAM_CLICKHOUSE_BI_PASSWORD}'
    SETTINGS readonly = 1;
GRANT SELECT ON ${CITYSTREAM_CLICKHOUSE_DATABASE}.* TO ${CITYSTREAM_CLICKHOUSE_BI_USER};
SQL
