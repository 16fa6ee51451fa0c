"""``strptime`` formats compiled once into a regular expression, for exports of millions of
rows: ``datetime.strptime`` pays its locale lookups and format parsing on every call (a
third of an import's time). A format using a directive not handled here falls back to
``strptime`` itself, so every declared format keeps its exact meaning.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["TimeFormat", "ZoneClock"]

_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "m": r"(?P<m>\d{1,2})",
    "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})",
    "I": r"(?P<I>\d{1,2})",
    "M": r"(?P<M>\d{1,2})",
    "S": r"(?P<S>\d{1,2})",
    "f": r"(?P<f>\d{1,6})",
    "p": r"(?P<p>[AaPp][Mm])",
}
_DIRECTIVE = re.compile(r"%(.)")


def _compile(fmt: str) -> re.Pattern[str] | None:
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in _DIRECTIVE.finditer(fmt):
        parts.append(re.escape(fmt[pos : m.start()]).replace(r"\ ", r"\s+"))
        code = m.group(1)
        if code == "%":
            parts.append("%")
        elif code in _DIRECTIVES and code not in seen:
            parts.append(_DIRECTIVES[code])
            seen.add(code)
        else:
            return None  # %b, %z, %j ...: strptime knows them, this does not
        pos = m.end()
    parts.append(re.escape(fmt[pos:]).replace(r"\ ", r"\s+"))
    return re.compile("".join(parts))


Parts = tuple[int, int, int, int, int, int, int]  # year, month, day, h, min, s, µs


class TimeFormat:
    """One declared format: :meth:`parts` reads a value as ``datetime.strptime`` would
    (without checking the day exists: :class:`ZoneClock` does), or None."""

    __slots__ = ("fmt", "regex")

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.regex = _compile(fmt)

    def parts(self, value: str) -> Parts | None:
        """The fields of ``value`` (a compiled format only: else None, use :meth:`parse`)."""
        if self.regex is None:
            return None
        m = self.regex.fullmatch(value)
        if m is None:
            return None
        g = m.groupdict()
        get = g.get
        hour = int(get("H") or 0)
        h12 = get("I")
        if h12 is not None:
            hour = int(h12)
            if not 1 <= hour <= 12:
                return None
            # as strptime: 12 AM is midnight, 12 PM noon; no %p reads as AM
            hour = hour % 12 + (12 if (get("p") or "").upper() == "PM" else 0)
        frac = get("f")
        return (
            int(get("Y") or 1900),
            int(get("m") or 1),
            int(get("d") or 1),
            hour,
            int(get("M") or 0),
            int(get("S") or 0),
            int(frac.ljust(6, "0")) if frac else 0,
        )

    def parse(self, value: str) -> datetime | None:
        """``datetime.strptime(value, fmt)`` (aware when the format has ``%z``), or None."""
        if self.regex is None:
            try:
                return datetime.strptime(value, self.fmt)
            except ValueError:
                return None
        p = self.parts(value)
        if p is None:
            return None
        try:
            return datetime(*p)
        except ValueError:  # 2019/13/45: no such day
            return None


_NO_SUCH_HOUR = ("", "", 0)  # a day that does not exist (2019-02-30)
_OFFSET_CHANGES = ("", "", 1)  # the zone's offset changes within this hour


class ZoneClock:
    """Naive local times of one zone to ``(ISO 8601 with offset, UTC epoch ms)``, as
    ``datetime(*parts).replace(tzinfo=zone)`` reads them (fold 0), with the zone's offset
    looked up once per local hour instead of twice per time (zoneinfo is the other third
    of a row's time). An hour in which the offset changes is converted exactly, time by
    time."""

    __slots__ = ("hours", "zone")

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        # (y, m, d, h) -> (ISO up to the hour, ISO offset, epoch ms of the hour's start)
        self.hours: dict[tuple[int, ...], tuple[str, str, int]] = {}

    def _hour(self, key: tuple[int, ...]) -> tuple[str, str, int]:
        try:
            first = datetime(key[0], key[1], key[2], key[3], tzinfo=self.zone)
        except ValueError:
            found = _NO_SUCH_HOUR
        else:
            last = first.replace(minute=59, second=59, microsecond=999_999)
            a, b = first.utcoffset(), last.utcoffset()
            if a is None or a != b:
                found = _OFFSET_CHANGES
            else:
                offset = int(a.total_seconds())
                sign, mag = ("-", -offset) if offset < 0 else ("+", offset)
                suffix = f"{sign}{mag // 3600:02d}:{mag % 3600 // 60:02d}"
                if mag % 60:  # LMT offsets of old dates have seconds; isoformat writes them
                    suffix += f":{mag % 60:02d}"
                prefix = first.replace(tzinfo=None).isoformat()[:14]  # YYYY-MM-DDTHH:
                found = (prefix, suffix, round(first.timestamp()) * 1000)
        self.hours[key] = found
        return found

    def stamp(self, p: Parts) -> tuple[str, int] | None:
        """``(isoformat(), epoch ms)`` of the aware time, or None if there is no such time."""
        key = p[:4]
        found = self.hours.get(key) or self._hour(key)
        prefix, suffix, start_ms = found
        mi, sec, us = p[4], p[5], p[6]
        if not prefix or not (mi < 60 and sec < 60):
            if found is not _OFFSET_CHANGES or not (mi < 60 and sec < 60):
                return None
            aware = datetime(*p, tzinfo=self.zone)
            return aware.isoformat(), round(aware.timestamp() * 1000)
        frac = f".{us:06d}" if us else ""
        iso = f"{prefix}{mi:02d}:{sec:02d}{frac}{suffix}"
        return iso, start_ms + (mi * 60 + sec) * 1000 + round(us / 1000)
