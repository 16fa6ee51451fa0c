"""How one setting is read from its environment variable, written back and checked.

Every field of a settings concern carries a :class:`Spec` in its dataclass metadata: the
environment variable (without the ``CITYSTREAM_`` prefix) and a :class:`Codec`. The codec
is the single place that knows a value's text form, so ``load_settings`` (parse) and
``Settings.as_env`` (render) agree by construction, and ``__post_init__`` checks the type
of values given directly (``Settings(...)``, ``.replace()``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_ENV_PREFIX",
    "BOOL",
    "BREAK",
    "CLOCK",
    "DATE",
    "ENV_PREFIX",
    "FLOAT",
    "INT",
    "MASK",
    "PATH",
    "SPEC",
    "STR",
    "Codec",
    "SettingsError",
    "Spec",
    "choice",
    "setting",
    "tuple_of",
]

ENV_PREFIX = "CITYSTREAM_"
# Variables under this prefix belong to the benchmark harness (bench/harness/knobs.py),
# not to the settings: load_settings leaves them alone instead of calling them unknown.
BENCH_ENV_PREFIX = ENV_PREFIX + "BENCH_"
SPEC = "citystream.spec"  # dataclass metadata key of a field's Spec
MASK = "***"  # what a secret shows in place of its value (repr, errors, citystream settings)

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range."""


@dataclass(frozen=True)
class Codec:
    """Text form and type check of one kind of setting value."""

    kind: str  # for messages: "an integer", "a tuple of ISO dates", ...
    parse: Callable[[str], Any]  # raises ValueError on bad text
    render: Callable[[Any], str]
    accepts: Callable[[Any], bool]
    normalize: Callable[[Any], Any] = lambda v: v  # e.g. int -> float for float fields


@dataclass(frozen=True)
class Spec:
    env: str  # the variable without ENV_PREFIX, e.g. "KAFKA_PORT"
    codec: Codec
    secret: bool = False  # masked in repr

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.env

    @property
    def flat_name(self) -> str:
        """The name ``load_settings(**overrides)`` and ``Settings.replace`` take."""
        return self.env.lower()


def setting(
    default: Any = None,
    env: str = "",
    codec: Codec | None = None,
    *,
    factory: Callable[[], Any] | None = None,
    secret: bool = False,
) -> Any:
    """A dataclass field bound to ``CITYSTREAM_<env>``, parsed and rendered by ``codec``."""
    if not env or codec is None:
        raise TypeError("a setting needs its environment variable name and codec")
    metadata = {SPEC: Spec(env, codec, secret)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return (isinstance(v, float) or _is_int(v)) and math.isfinite(v)


def _parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _clock_minutes(text: str) -> int | None:
    """Minutes since midnight of ``HH:MM`` (up to 24:00), or None if it is not one."""
    m = _CLOCK.fullmatch(text)
    if m is None or int(m[2]) >= 60:
        return None
    minutes = int(m[1]) * 60 + int(m[2])
    return minutes if minutes <= 24 * 60 else None


def _parse_clock(raw: str) -> str:
    text = raw.strip()
    if _clock_minutes(text) is None:
        raise ValueError(raw)
    return text


def _parse_break(raw: str) -> tuple[str, str]:
    lo, sep, hi = raw.partition("-")
    if not sep:
        raise ValueError(raw)
    return _parse_clock(lo), _parse_clock(hi)


def _is_break(v: Any) -> bool:
    return (
        isinstance(v, tuple)
        and len(v) == 2
        and all(isinstance(t, str) and _clock_minutes(t) is not None for t in v)
    )


def clock_minutes(text: str) -> int:
    """Minutes since midnight of a checked ``HH:MM`` value (for range checks)."""
    minutes = _clock_minutes(text)
    if minutes is None:
        raise ValueError(f"{text!r} is not HH:MM")
    return minutes


INT = Codec("an integer", lambda raw: int(raw.strip()), str, _is_int)
FLOAT = Codec("a finite number", _parse_float, repr, _is_real, float)
STR = Codec("a string", lambda raw: raw, str, lambda v: isinstance(v, str))
BOOL = Codec(
    "a boolean (true/false)",
    _parse_bool,
    lambda v: str(v).lower(),
    lambda v: v in (True, False) and isinstance(v, bool),
)


def _parse_path(raw: str) -> Path:
    if not raw.strip():  # Path("") would be the working directory, wherever that is
        raise ValueError(raw)
    return Path(raw.strip()).expanduser()


PATH = Codec("a non-empty path", _parse_path, str, lambda v: isinstance(v, Path))
DATE = Codec(
    "an ISO date (YYYY-MM-DD)",
    lambda raw: date.fromisoformat(raw.strip()),
    date.isoformat,
    lambda v: isinstance(v, date) and not isinstance(v, datetime),
)
CLOCK = Codec(
    "a time of day HH:MM",
    _parse_clock,
    str,
    lambda v: isinstance(v, str) and _clock_minutes(v) is not None,
)
BREAK = Codec("a break HH:MM-HH:MM", _parse_break, lambda v: f"{v[0]}-{v[1]}", _is_break)


def choice(*options: str, upper: bool = False) -> Codec:
    """One of ``options`` (a ``Literal``); ``upper``: the text is matched upper-cased."""

    def parse(raw: str) -> str:
        text = raw.strip().upper() if upper else raw.strip()
        if text not in options:
            raise ValueError(raw)
        return text

    return Codec(f"one of {', '.join(options)}", parse, str, lambda v: v in options)


def tuple_of(item: Codec, *, everything: tuple[Any, ...] | None = None) -> Codec:
    """A tuple of ``item`` values, written comma-separated (empty parts are ignored).

    ``everything``: the tuple the single word ``all`` stands for (the worker roles).
    """

    def parse(raw: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if everything is not None and parts == ["all"]:
            return everything
        return tuple(item.parse(p) for p in parts)

    return Codec(
        f"a comma-separated list (a tuple), each {item.kind}",
        parse,
        lambda v: ",".join(item.render(x) for x in v),
        lambda v: isinstance(v, tuple) and all(item.accepts(x) for x in v),
        lambda v: tuple(item.normalize(x) for x in v),
    )
