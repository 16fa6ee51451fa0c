"""The canonical event and the fused batch: a versioned binary columnar frame.

Source of truth for ``events.fused`` (see docs/contracts.md and docs/fused-format.md).
A frame is a fixed header, the fixed-width columns as one numpy structured array (read
back zero-copy with ``np.frombuffer``), then the string columns as offset arrays and
utf-8 blobs. Consumers get whole numpy columns per Kafka message, never a dict per event.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import orjson

from streams.contracts.sources import Source

__all__ = [
    "EVENT_DTYPE",
    "FLAG_BEYOND_STATE",
    "FLAG_FIXED_ON_SPOT",
    "FLAG_LATE",
    "FLAG_REQUEST_UPDATE",
    "FORMAT_VERSION",
    "MAGIC",
    "STRING_COLUMNS",
    "FusedBatch",
    "FusedFormatError",
    "Source",
    "StringColumn",
    "decode_batch",
    "device_hash",
    "encode_batch",
    "event_id_for",
]

MAGIC = b"CSFB"
FORMAT_VERSION = 2  # 2: the raw origin columns; version 1 frames are still read
FLAG_FIXED_ON_SPOT = 1  # bit 0 of ``flags``
# bit 1: the record arrived more than ``late_after_s`` after its event time (a hotline
# ticket forwarded days later, a gateway's buffer after an outage). Set by the normalizer
# from the event's own two times, so it is the same in every run of the same input.
FLAG_LATE = 2
# bit 2, set by dedup on links and cases only: the event was further behind its tile's
# newest event than the dedup state reaches (``allowed_lateness_s``), so it was not matched
# and opened a case of its own (see docs/lateness.md).
FLAG_BEYOND_STATE = 4
# bit 3: a hotline request the platform published again with an update (its
# ``updated_datetime`` after its ``requested_datetime``): its status and notes go to
# ``hotline.updates`` (streams/contracts/requests.py); the event, where it was accepted
# before, is not a duplicate of itself
FLAG_REQUEST_UPDATE = 8


_V1_NAMES = [
    "event_id",
    "source",
    "category",
    "flags",
    "lat",
    "lon",
    "event_time_ms",
    "ingest_time_ms",
    "device_hash",
]
_V1_FORMATS = ["<u8", "u1", "<u2", "u1", "<f8", "<f8", "<i8", "<i8", "<u8"]
_V1_OFFSETS = [0, 8, 10, 12, 16, 24, 32, 40, 48]
_V1_DTYPE = np.dtype(
    {"names": _V1_NAMES, "formats": _V1_FORMATS, "offsets": _V1_OFFSETS, "itemsize": 56}
)
# Field order is the contract's; explicit offsets keep every 8-byte field 8-aligned
# (numba and numpy read aligned columns faster). Padding bytes are always zero.
# ``origin_partition`` and ``origin_seq`` say which raw record an event came from: the raw
# topic's partition (the topic is the source's) and its offset + 1 (0 = not known, e.g. a
# file replay). Dedup uses them to absorb every raw record exactly once per tile, whatever
# is redelivered after a crash (streams/dedup/ordering.py).
EVENT_DTYPE = np.dtype(
    {
        "names": [*_V1_NAMES, "origin_partition", "origin_seq"],
        "formats": [*_V1_FORMATS, "<u2", "<i8"],
        "offsets": [*_V1_OFFSETS, 14, 56],
        "itemsize": 64,
    }
)

STRING_COLUMNS: tuple[str, ...] = (
    "source_ref",
    "device_id",
    "reporter",
    "department",
    "text",
    "address",
)

# magic, version, reserved, n_events, record size, string column count, reserved
_HEADER = struct.Struct("<4sHHIIII")
_HEADER_SIZE = _HEADER.size  # 24: 8-aligned so the fixed part starts aligned
_OFFSET_DTYPE = np.dtype("<u4")


class FusedFormatError(ValueError):
    """A byte string is not a valid fused batch frame."""


def _hash8(data: bytes) -> int:
    # First 8 bytes (little endian) of the default 64-byte blake2b digest; 0 is reserved.
    value = int.from_bytes(hashlib.blake2b(data).digest()[:8], "little")
    return value or 1


def event_id_for(source: str, source_ref: str) -> int:
    """Stable event id of a raw record: a replayed record gets the same id."""
    return _hash8(f"{source}:{source_ref}".encode())


def device_hash(device_id: str) -> int:
    """Stable 64-bit hash of a device or component id; 0 means "no device"."""
    if not device_id:
        return 0
    return _hash8(device_id.encode())


class StringColumn:
    """A column of strings: ``offsets`` (n+1, uint32) into one utf-8 ``blob``.

    ``take`` only records which rows it keeps (``index``), it copies no bytes: a dedup
    release reorders and filters whole batches several times before a few of their strings
    are read. ``join`` copies none either: it keeps the columns as parts. Dedup joins every
    string column of the batches it releases but reads two of them (``source_ref``,
    ``reporter``), and those for the links and cases it sends only. The bytes are gathered
    once, when the column is serialised.
    """

    __slots__ = ("_base_blob", "_base_offsets", "_index", "_parts", "_starts")

    def __init__(
        self, offsets: np.ndarray, blob: bytes | memoryview, index: np.ndarray | None = None
    ) -> None:
        self._base_offsets = offsets
        self._base_blob = blob
        self._index = index  # rows of the base column, or None: all of them
        # a join not gathered yet: its columns, and the first row of each (plus the total);
        # the base is then the empty column
        self._parts: list[StringColumn] | None = None
        self._starts: np.ndarray | None = None

    @classmethod
    def from_list(cls, values: Sequence[str]) -> StringColumn:
        encoded = [v.encode() for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=_OFFSET_DTYPE)
        if encoded:
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            total = np.cumsum(lengths)
            if total[-1] > 0xFFFFFFFF:
                raise FusedFormatError("a string column exceeds 4 GiB")
            offsets[1:] = total
        return cls(offsets, b"".join(encoded))

    def __len__(self) -> int:
        if self._index is not None:
            return len(self._index)
        if self._starts is not None:
            return int(self._starts[-1])
        return len(self._base_offsets) - 1

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end byte of every row in the base blob."""
        self._gather_parts()
        starts = self._base_offsets[:-1].astype(np.int64)
        ends = self._base_offsets[1:].astype(np.int64)
        if self._index is None:
            return starts, ends
        return starts[self._index], ends[self._index]

    @property
    def offsets(self) -> np.ndarray:
        return self._compact()._base_offsets

    @property
    def blob(self) -> bytes | memoryview:
        return self._compact()._base_blob

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> StringColumn: ...

    def __getitem__(self, i: int | slice) -> str | StringColumn:
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        self._gather_parts()
        row = i if self._index is None else int(self._index[i])
        start, end = int(self._base_offsets[row]), int(self._base_offsets[row + 1])
        return bytes(self._base_blob[start:end]).decode()

    def to_list(self) -> list[str]:
        if self._parts is not None:
            return self._parts_to_list()
        blob = bytes(self._base_blob)
        if self._index is None:
            bounds = self._base_offsets.tolist()
            return [blob[a:b].decode() for a, b in itertools.pairwise(bounds)]
        starts, ends = self._bounds()
        return [blob[a:b].decode() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_list())

    def json_array(self) -> bytes:
        """The column as a JSON array of strings, without a Python string per row.

        The gathered UTF-8 bytes go between quotes as they are (JSON takes UTF-8 as it
        is); only a column with a byte JSON must escape (a quote, a backslash, a control
        character: rare in references and names) goes through the JSON encoder."""
        column = self._compact()
        n = len(column)
        if n == 0:
            return b"[]"
        bytes(column._base_blob).decode()  # UnicodeDecodeError, as to_list's decode raises
        data = np.frombuffer(column._base_blob, dtype=np.uint8)
        if np.any((data < 0x20) | (data == 0x22) | (data == 0x5C)):
            return orjson.dumps(column.to_list())
        offsets = column._base_offsets.astype(np.int64)
        lengths = np.diff(offsets)
        # string i starts after "[", its predecessors' bytes and their quotes and commas
        # (3 each), and its own opening quote
        starts = offsets[:-1] + 3 * np.arange(n, dtype=np.int64) + 2
        out = np.full(int(offsets[-1]) + 3 * n + 1, ord(","), dtype=np.uint8)
        out[0], out[-1] = ord("["), ord("]")
        out[starts - 1] = ord('"')
        out[starts + lengths] = ord('"')
        out[np.arange(len(data), dtype=np.int64) + np.repeat(starts - offsets[:-1], lengths)] = data
        return out.tobytes()

    def take(self, index: np.ndarray) -> StringColumn:
        """The strings at ``index`` (no bytes copied until the column is serialised)."""
        idx = np.asarray(index, dtype=np.int64)
        rows = idx if self._index is None else self._index[idx]
        taken = StringColumn(self._base_offsets, self._base_blob, rows)
        taken._parts, taken._starts = self._parts, self._starts
        return taken

    def take_blanking(self, index: np.ndarray, blank: np.ndarray) -> StringColumn:
        """The strings at ``index``, with those where ``blank`` is true made empty."""
        self._gather_parts()
        starts, ends = self.take(index)._bounds()
        lengths = np.where(blank, 0, ends - starts)
        return _gather(self._base_blob, starts, lengths)

    def _compact(self) -> StringColumn:
        """This column with its own offsets and blob (gathers the selected bytes once)."""
        self._gather_parts()
        if self._index is None:
            return self
        starts, ends = self._bounds()
        compact = _gather(self._base_blob, starts, ends - starts)
        self._base_offsets, self._base_blob = compact._base_offsets, compact._base_blob
        self._index = None
        return self

    def _parts_to_list(self) -> list[str]:
        """The strings of the rows kept, read part by part (no bytes joined)."""
        assert self._parts is not None and self._starts is not None
        rows = np.arange(len(self)) if self._index is None else self._index
        part_of = np.searchsorted(self._starts, rows, side="right") - 1
        out: list[str] = [""] * len(rows)
        for p in np.unique(part_of).tolist():
            mine = np.flatnonzero(part_of == p)
            values = self._parts[p].take(rows[mine] - self._starts[p]).to_list()
            for i, value in zip(mine.tolist(), values, strict=True):
                out[i] = value
        return out

    def _gather_parts(self) -> None:
        """Turn a join kept as parts into one base column (rows kept: the same)."""
        if self._parts is None:
            return
        joined = StringColumn._joined(self._parts)
        self._base_offsets, self._base_blob = joined._base_offsets, joined._base_blob
        self._parts = self._starts = None

    @staticmethod
    def join(columns: Sequence[StringColumn]) -> StringColumn:
        """The columns one after the other, kept as parts until the bytes are needed."""
        if len(columns) == 1:
            return columns[0]
        parts = [c for c in columns if len(c)]
        joined = StringColumn(np.zeros(1, dtype=_OFFSET_DTYPE), b"")
        if parts:
            joined._parts = parts
            joined._starts = np.concatenate([[0], np.cumsum([len(c) for c in parts])])
        return joined

    @staticmethod
    def _joined(columns: Sequence[StringColumn]) -> StringColumn:
        """The columns one after the other (offsets shifted, blobs joined)."""
        offsets = np.zeros(sum(len(c) for c in columns) + 1, dtype=np.int64)
        at, base = 1, 0
        for c in columns:
            n = len(c)
            offsets[at : at + n] = c.offsets[1:].astype(np.int64) + base
            at += n
            base += int(c.offsets[-1])
        if base > 0xFFFFFFFF:
            raise FusedFormatError("a string column exceeds 4 GiB")
        return StringColumn(offsets.astype(_OFFSET_DTYPE), b"".join(bytes(c.blob) for c in columns))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):  # the engine's link and case columns, as they were
            return self.to_list() == other
        if not isinstance(other, StringColumn):
            return NotImplemented
        return self.to_list() == other.to_list()

    __hash__ = None  # type: ignore[assignment]


def _gather(blob: bytes | memoryview, starts: np.ndarray, lengths: np.ndarray) -> StringColumn:
    """A compact column of the byte ranges ``[start, start + length)`` of ``blob``."""
    offsets = np.zeros(len(starts) + 1, dtype=_OFFSET_DTYPE)
    if len(starts) == 0:
        return StringColumn(offsets, b"")
    total = np.cumsum(lengths)
    if total[-1] > 0xFFFFFFFF:
        raise FusedFormatError("a string column exceeds 4 GiB")
    offsets[1:] = total
    # One gather over the bytes (no Python per string): byte j of string i sits at
    # starts[i] + j in the source and at offsets[i] + j in the result.
    shift = np.repeat(starts - (total - lengths), lengths)
    source = np.frombuffer(blob, dtype=np.uint8)
    gathered = source[shift + np.arange(int(total[-1]), dtype=np.int64)].tobytes()
    return StringColumn(offsets, gathered)


@dataclass(eq=False)
class FusedBatch:
    """Canonical events: fixed columns in ``events`` (EVENT_DTYPE) plus string columns."""

    events: np.ndarray
    strings: dict[str, StringColumn]

    def __post_init__(self) -> None:
        if self.events.dtype != EVENT_DTYPE:
            raise FusedFormatError(f"events must have EVENT_DTYPE, got {self.events.dtype}")
        if tuple(self.strings) != STRING_COLUMNS:
            raise FusedFormatError(
                f"string columns must be {STRING_COLUMNS}, got {tuple(self.strings)}"
            )
        n = len(self.events)
        for name, col in self.strings.items():
            if len(col) != n:
                raise FusedFormatError(f"string column {name!r} has {len(col)} rows, not {n}")

    def __len__(self) -> int:
        return len(self.events)

    @classmethod
    def empty(cls) -> FusedBatch:
        return cls.from_columns({}, {name: [] for name in STRING_COLUMNS}, n=0)

    @classmethod
    def from_columns(
        cls,
        fixed: Mapping[str, Any],
        strings: Mapping[str, Sequence[str]],
        n: int | None = None,
    ) -> FusedBatch:
        """Build a batch from per-column sequences/arrays; missing fixed columns are 0."""
        unknown = set(fixed) - set(EVENT_DTYPE.names or ())
        if unknown:
            raise FusedFormatError(f"unknown fixed column(s): {sorted(unknown)}")
        missing = set(STRING_COLUMNS) - set(strings)
        if missing:
            raise FusedFormatError(f"missing string column(s): {sorted(missing)}")
        if n is None:
            n = len(strings[STRING_COLUMNS[0]])
        events = np.zeros(n, dtype=EVENT_DTYPE)
        for name, values in fixed.items():
            events[name] = values
        cols = {name: StringColumn.from_list(strings[name]) for name in STRING_COLUMNS}
        return cls(events, cols)

    @classmethod
    def from_fixed_array(
        cls, events: np.ndarray, strings: Mapping[str, Sequence[str]]
    ) -> FusedBatch:
        """Wrap a ready EVENT_DTYPE array and string lists (no copy of ``events``)."""
        missing = set(STRING_COLUMNS) - set(strings)
        if missing:
            raise FusedFormatError(f"missing string column(s): {sorted(missing)}")
        return cls(events, {name: StringColumn.from_list(strings[name]) for name in STRING_COLUMNS})

    def column(self, name: str) -> list[str]:
        """A string column as a list of python strings."""
        return self.strings[name].to_list()

    def take(
        self, index: np.ndarray | Sequence[int], blank_strings: np.ndarray | None = None
    ) -> FusedBatch:
        """The rows at ``index`` (e.g. one spatial tile's events), as a new batch.

        ``blank_strings``: per taken row, true to leave its string columns empty.
        """
        idx = np.asarray(index, dtype=np.int64)
        events = np.ascontiguousarray(self.events[idx])
        if blank_strings is None or not bool(np.any(blank_strings)):
            return FusedBatch(events, {k: c.take(idx) for k, c in self.strings.items()})
        blank = np.asarray(blank_strings, dtype=bool)
        if blank.shape != idx.shape:
            raise ValueError("blank_strings must have one flag per taken row")
        strings = {k: c.take_blanking(idx, blank) for k, c in self.strings.items()}
        return FusedBatch(events, strings)

    @classmethod
    def concat(cls, batches: Iterable[FusedBatch]) -> FusedBatch:
        parts = list(batches)
        if not parts:
            return cls.empty()
        # np.concatenate would drop the padding of the aligned dtype: fill a fresh array.
        events = np.zeros(sum(len(b) for b in parts), dtype=EVENT_DTYPE)
        start = 0
        for b in parts:
            events[start : start + len(b)] = b.events
            start += len(b)
        strings = {
            name: StringColumn.join([b.strings[name] for b in parts]) for name in STRING_COLUMNS
        }
        return cls(events, strings)


_RECORD_DTYPES = {1: _V1_DTYPE, FORMAT_VERSION: EVENT_DTYPE}


def encode_batch(batch: FusedBatch) -> bytes:
    """The frame for ``batch``: header, fixed records, offsets, blobs."""
    n = len(batch.events)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, n, EVENT_DTYPE.itemsize, len(STRING_COLUMNS), 0)
    parts: list[bytes] = [header, np.ascontiguousarray(batch.events).tobytes()]
    cols = [batch.strings[name] for name in STRING_COLUMNS]
    parts.extend(np.ascontiguousarray(c.offsets, dtype=_OFFSET_DTYPE).tobytes() for c in cols)
    parts.extend(bytes(c.blob) for c in cols)
    return b"".join(parts)


def decode_batch(data: bytes | bytearray | memoryview) -> FusedBatch:
    """Parse a frame; the fixed part is a read-only zero-copy view of ``data``."""
    view = memoryview(data).cast("B")
    size = len(view)
    if size < _HEADER_SIZE:
        raise FusedFormatError(
            f"frame of {size} bytes is shorter than the {_HEADER_SIZE}-byte header"
        )
    magic, version, _, n, itemsize, ncols, _ = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise FusedFormatError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    record = _RECORD_DTYPES.get(version)
    if record is None:
        raise FusedFormatError(
            f"unsupported fused format version {version} (this reader: 1 to {FORMAT_VERSION})"
        )
    if itemsize != record.itemsize or ncols != len(STRING_COLUMNS):
        raise FusedFormatError(
            f"record size {itemsize} / {ncols} string columns do not match version {version} "
            f"({record.itemsize} / {len(STRING_COLUMNS)})"
        )
    fixed_end = _HEADER_SIZE + n * itemsize
    offsets_end = fixed_end + ncols * (n + 1) * _OFFSET_DTYPE.itemsize
    if size < offsets_end:
        raise FusedFormatError(f"frame truncated: {size} bytes, {n} events need {offsets_end}+")
    events = np.frombuffer(view, dtype=record, count=n, offset=_HEADER_SIZE)
    if record is not EVENT_DTYPE:  # an older frame (a changelog written before): convert
        upgraded = np.zeros(n, dtype=EVENT_DTYPE)
        for name in record.names or ():
            upgraded[name] = events[name]
        events = upgraded
    offsets = np.frombuffer(view, dtype=_OFFSET_DTYPE, count=ncols * (n + 1), offset=fixed_end)
    offsets = offsets.reshape(ncols, n + 1)
    if np.any(offsets[:, 0] != 0) or np.any(np.diff(offsets.astype(np.int64), axis=1) < 0):
        raise FusedFormatError("string offsets must start at 0 and never decrease")
    blob_lens = offsets[:, n].astype(np.int64)
    if offsets_end + int(blob_lens.sum()) != size:
        raise FusedFormatError(
            f"frame length {size} != {offsets_end + int(blob_lens.sum())} declared by its offsets"
        )
    strings: dict[str, StringColumn] = {}
    start = offsets_end
    for i, name in enumerate(STRING_COLUMNS):
        end = start + int(blob_lens[i])
        strings[name] = StringColumn(offsets[i], view[start:end])
        start = end
    return FusedBatch(events, strings)
