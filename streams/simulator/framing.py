"""Exact on-disk framing of raw records (``raw.<source>.rec``).

Raw records are bytes, and bad ones may hold newlines or invalid utf-8, so lines cannot
frame them. A ``.rec`` file is the magic line ``CSREC1\\n`` followed by records, each a
big-endian header (arrival epoch ms int64, key length uint32, value length uint32), the
key bytes and the value bytes. Readers stream the file; a truncated tail is an error.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["MAGIC", "FramingError", "RawRecord", "read_framed", "read_records", "write_framed"]

MAGIC = b"CSREC1\n"
_HEADER = struct.Struct(">qII")


class FramingError(ValueError):
    """A ``.rec`` file is not in the expected format or is truncated."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    key: bytes
    value: bytes
    arrival_ms: int


def write_framed(fh: IO[bytes], key: bytes, value: bytes, arrival_ms: int) -> None:
    """Append one record to an open file (write :data:`MAGIC` first, once)."""
    fh.write(_HEADER.pack(arrival_ms, len(key), len(value)))
    fh.write(key)
    fh.write(value)


def read_framed(path: str | Path) -> Iterator[RawRecord]:
    """Every record of a ``.rec`` file, in file order."""
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            raise FramingError(f"{path}: not a citystream record file (bad magic)")
        n = 0
        while True:
            header = fh.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                raise FramingError(f"{path}: truncated header after record {n}")
            arrival_ms, key_len, value_len = _HEADER.unpack(header)
            key, value = fh.read(key_len), fh.read(value_len)
            if len(key) != key_len or len(value) != value_len:
                raise FramingError(f"{path}: truncated record {n}")
            n += 1
            yield RawRecord(key, value, arrival_ms)


def read_records(path: str | Path) -> Iterator[bytes]:
    """The value bytes of every record of a ``.rec`` file, in file order."""
    for record in read_framed(path):
        yield record.value
