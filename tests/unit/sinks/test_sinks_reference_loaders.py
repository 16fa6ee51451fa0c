"""The reference loaders (sinks.streets) map a ClickHouse that cannot be reached or drops
the connection mid-answer to StoreUnavailable, as the sink does (one list of errors,
sinks.clickhouse.UNREACHABLE_ERRORS), and disconnect in every case."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_driver import errors as ch_errors

from sinks import streets
from sinks.base import StoreUnavailable
from sinks.clickhouse import UNREACHABLE_ERRORS
from streams.settings import load_settings


class _Client:
    """A client whose every query fails with ``error`` (None: answers with no rows)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.disconnected = False

    def execute(self, sql: str, *args: Any) -> list[Any]:
        if self.error is not None:
            raise self.error
        return []

    def disconnect(self) -> None:
        self.disconnected = True


def _patched(monkeypatch: pytest.MonkeyPatch, error: BaseException | None) -> _Client:
    client = _Client(error)
    monkeypatch.setattr(streets, "make_client", lambda settings, use_numpy: client)
    return client


def _load() -> int:
    return streets._load_revision(load_settings(env={}), "db", "street_segments", ("a",), {(1,)})


@pytest.mark.parametrize(
    "error",
    [
        ch_errors.NetworkError("connection refused"),
        ch_errors.SocketTimeoutError("timed out"),
        ch_errors.UnexpectedPacketFromServerError("partial packet"),
        EOFError("closed"),
        ConnectionResetError("reset"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_unreachable_server_is_store_unavailable(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    assert isinstance(error, UNREACHABLE_ERRORS)
    client = _patched(monkeypatch, error)
    with pytest.raises(StoreUnavailable, match="ClickHouse is unreachable"):
        _load()
    assert client.disconnected


def test_a_server_error_is_not_taken_for_an_unreachable_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _patched(monkeypatch, ch_errors.ServerException("no such table", code=60))
    with pytest.raises(ch_errors.ServerException):
        _load()
    assert client.disconnected


def test_a_load_disconnects_when_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _patched(monkeypatch, None)
    assert _load() == 1  # an empty table: the file's one row is written
    assert client.disconnected
