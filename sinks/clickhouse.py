"""The ClickHouse writer: numpy columnar inserts through clickhouse-driver.

Each logical topic maps to one table (:data:`TOPIC_TABLES`; a table name also routes to
itself, for streams without a topic of their own such as ``case_stages``). A batch is one
``INSERT ... VALUES`` with ``columnar=True`` and the client in ``use_numpy`` mode, so no
Python object is made per row. Connection failures and the server's transient overload
errors become :class:`~sinks.base.StoreUnavailable` (retried with backoff by
:class:`~sinks.base.Sink`); anything else is a :class:`~sinks.base.SinkError`.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from sinks.base import Sink, SinkBatch, SinkError, StoreUnavailable
from sinks.sql import DriverExecutor, check_identifier
from sinks.tables import TABLES, ColumnsError, coerce_columns, rows_to_columns
from streams.contracts.topics import TOPIC_TABLES
from streams.settings import Settings

__all__ = [
    "TRANSIENT_SERVER_CODES",
    "UNREACHABLE_ERRORS",
    "ClickHouseSink",
    "make_client",
    "run_command",
]

# server error codes worth retrying: too many queries/parts, memory, timeouts, network
TRANSIENT_SERVER_CODES = frozenset({159, 164, 202, 209, 210, 241, 252, 319})
# what clickhouse-driver raises when the server cannot be reached or dropped the connection
# (a server killed mid-answer sends a partial packet): retried, as StoreUnavailable, by
# every writer and loader
UNREACHABLE_ERRORS = (
    ch_errors.NetworkError,
    ch_errors.SocketTimeoutError,
    ch_errors.UnexpectedPacketFromServerError,
    EOFError,
    OSError,
    socket.timeout,
)


def make_client(
    settings: Settings,
    *,
    port: int | None = None,
    use_numpy: bool = True,
    timeout_s: float = 60,
) -> Client:
    """A clickhouse-driver client for the pipeline user (numpy mode for inserts).

    ``timeout_s`` bounds each wait for the server: an INSERT ... SELECT sends nothing until
    it is done, so a long one (the rollup refresh) needs more than the default."""
    options = settings.clickhouse.client_options()
    if port is not None:
        options["port"] = port
    return Client(
        **options,
        connect_timeout=3,
        send_receive_timeout=timeout_s,
        settings={"use_numpy": use_numpy},
    )


def run_command(
    settings: Settings,
    command: str,
    database: str,
    body: Callable[[DriverExecutor], int],
    known_errors: tuple[type[Exception], ...],
    timeout_s: float = 60,
) -> int:
    """Run a ``citystream <command>`` body against ClickHouse; its exit code.

    A known error (bad input, a failed query) exits 1 with its message; anything else
    exits 2 and says which server it tried (no silent fallback).
    """
    client = make_client(settings, use_numpy=False, timeout_s=timeout_s)
    try:
        return body(DriverExecutor(client))
    except known_errors as exc:
        print(f"citystream {command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        where = f"{settings.clickhouse.host}:{settings.clickhouse.port}/{database}"
        print(f"citystream {command}: ClickHouse at {where}: {exc}", file=sys.stderr)
        return 2
    finally:
        client.disconnect()


class ClickHouseSink(Sink):
    """A :class:`~sinks.base.Sink` writing to ClickHouse tables of ``database``."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: str | None = None,
        client: Client | None = None,
        max_buffered_rows: int | None = None,
        retry_initial_s: float = 0.1,
        clock: Callable[[], float] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        super().__init__(
            batch_rows=settings.sink.batch_rows,
            batch_ms=settings.sink.batch_ms,
            max_buffered_rows=(
                4 * settings.sink.batch_rows if max_buffered_rows is None else max_buffered_rows
            ),
            retry_initial_s=retry_initial_s,
            retry_max_s=settings.sink.retry_max_s,
            **kwargs,
        )
        self.database = check_identifier(database or settings.clickhouse.database)
        self.client = make_client(settings) if client is None else client
        routes = {settings.kafka.topic(t): table for t, table in TOPIC_TABLES.items()}
        routes.update({table: table for table in TABLES})
        self.routes: Mapping[str, str] = MappingProxyType(routes)

    def table_for(self, topic: str) -> str:
        try:
            return self.routes[topic]
        except KeyError:
            raise SinkError(f"no table for topic {topic!r}; known: {sorted(self.routes)}") from None

    def prepare(self, topic: str, data: Any) -> tuple[list[np.ndarray], int]:
        """Rows (a sequence of dicts) or columns (a mapping) as the table's numpy columns."""
        table = self.table_for(topic)
        if isinstance(data, Mapping):
            columns: Mapping[str, Any] = data
        elif isinstance(data, Sequence):
            columns = rows_to_columns(table, data)
        else:
            raise ColumnsError(f"{topic}: expected row dicts or a column mapping")
        arrays = coerce_columns(table, columns)
        return arrays, len(arrays[0]) if arrays else 0

    def write(self, batch: SinkBatch) -> None:
        table = self.table_for(batch.topic)
        spec = TABLES[table]
        if len(batch.chunks) == 1:
            arrays = batch.chunks[0]
        else:
            arrays = [np.concatenate([c[i] for c in batch.chunks]) for i in range(len(spec))]
        names = ", ".join(c.name for c in spec)
        sql = f"INSERT INTO {self.database}.{table} ({names}) VALUES"
        try:
            self.client.execute(sql, arrays, columnar=True)
        except ch_errors.ServerException as exc:
            if exc.code in TRANSIENT_SERVER_CODES:
                raise StoreUnavailable(f"ClickHouse is overloaded: {exc.message}") from exc
            raise SinkError(f"insert into {self.database}.{table} failed: {exc}") from exc
        except UNREACHABLE_ERRORS as exc:
            self.client.disconnect()  # a fresh connection on the next attempt
            raise StoreUnavailable(f"ClickHouse is unreachable: {exc}") from exc

    def close(self) -> None:
        self.client.disconnect()
