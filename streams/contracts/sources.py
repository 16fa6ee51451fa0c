"""The channels reports come from: the one list every stage, tool and test takes them from."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SOURCES", "Source"]


class Source(IntEnum):
    """A report channel; the value is the fused ``source`` column (never renumber)."""

    SENSOR = 0
    HOTLINE = 1
    PATROL = 2

    @property
    def label(self) -> str:
        """The name used in raw topics, dead letters, files and the stored tables."""
        return self.name.lower()


# in ``Source`` order: "sensor", "hotline", "patrol"
SOURCES: tuple[str, ...] = tuple(s.label for s in Source)
