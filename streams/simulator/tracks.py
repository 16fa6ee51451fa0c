"""Where a patrol really went and what its terminal recorded: fixes along the walked streets.

The terminal (城管通) takes a fix every 10 to 30 s (per device, jittered) while its patrol
is on: along each leg of the patrol on the pavement beside the street, and between two legs
on a straight line when that is a walk or a ride (at most :data:`TRANSIT_MAX_MPS`); faster,
the inspector was driven and the app paused. Fixes are lost in GPS gaps (an underpass,
tall buildings). Each fix is off by a few metres, now and then by 20 to 50 m, always within
the accuracy the terminal reports with it: so good pings never look like jumps to intake
(its speed check is net of both pings' accuracy, streams/intake/tracks.py). Positions are
computed per patrol on numpy columns.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from streams.simulator.district import District, Street
from streams.simulator.patrols import Patrol

__all__ = ["TRANSIT_MAX_MPS", "Track", "record_track"]

TRANSIT_MAX_MPS = 5.0  # below the intake's default jump speed (8 m/s)
PAVEMENT_M = 6.0  # how far beside the centre line an inspector walks, either side
GAP_PROBS = (0.35, 0.1)  # chance of a first and of a second GPS gap in a patrol
GAP_S = (60.0, 300.0)
OUTLIER_SHARE = 0.04  # fixes off by 20 to 50 m (multipath beside tall buildings)
GOOD_ACCURACY_M = (4.0, 12.0)


@dataclass(frozen=True)
class Track:
    """The fixes of one patrol: when (whole seconds), where the inspector truly was (metres
    in the district plane), on which leg (-1 between streets), and what the terminal
    reported: WGS84 position and accuracy in metres."""

    t_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    leg: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy_m: np.ndarray

    def __len__(self) -> int:
        return len(self.t_ms)


def _street_points(street: Street, s: np.ndarray, lateral: float) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Street.point_at` of a column of positions along the street."""
    cum, xs, ys = np.asarray(street.cum), np.asarray(street.xs), np.asarray(street.ys)
    s = np.clip(s, 0.0, cum[-1])
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(xs) - 2)
    seg = cum[k + 1] - cum[k]
    t = np.where(seg > 0, (s - cum[k]) / np.where(seg > 0, seg, 1.0), 0.0)
    dx, dy = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    return xs[k] + t * dx - lateral * dy / norm, ys[k] + t * dy + lateral * dx / norm


def _positions(
    district: District, patrol: Patrol, lateral: list[float], t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True (x, y, leg) at the times ``t``; NaN where the terminal was paused."""
    x, y = np.full(len(t), np.nan), np.full(len(t), np.nan)
    leg_of = np.full(len(t), -1, dtype=np.int16)
    legs = patrol.legs
    ends = []
    for k, leg in enumerate(legs):
        street = district.streets[leg.street]
        length = abs(leg.s1 - leg.s0)
        direction = 1.0 if leg.s1 >= leg.s0 else -1.0
        on = (t >= leg.t0_ms) & (t <= leg.t1_ms)
        walked = np.minimum(leg.speed_mps * (t[on] - leg.t0_ms) / 1000, length)
        x[on], y[on] = _street_points(street, leg.s0 + direction * walked, lateral[k])
        leg_of[on] = k
        ends.append((street.point_at(leg.s0, lateral[k]), street.point_at(leg.s1, lateral[k])))
    for k in range(len(legs) - 1):
        (x0, y0), (x1, y1) = ends[k][1], ends[k + 1][0]
        span_s = (legs[k + 1].t0_ms - legs[k].t1_ms) / 1000
        if span_s <= 0 or math.hypot(x1 - x0, y1 - y0) / span_s > TRANSIT_MAX_MPS:
            continue  # driven to the next street: the terminal paused
        between = (t > legs[k].t1_ms) & (t < legs[k + 1].t0_ms)
        f = (t[between] - legs[k].t1_ms) / 1000 / span_s
        x[between], y[between] = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
    return x, y, leg_of


def _fix_times(rng: random.Random, patrol: Patrol, interval_s: float) -> np.ndarray:
    gaps = []
    for prob in GAP_PROBS:
        if rng.random() < prob:
            t0 = int(rng.uniform(patrol.start_ms, patrol.end_ms))
            gaps.append((t0, t0 + int(rng.uniform(*GAP_S) * 1000)))
    times: list[int] = []
    t = patrol.start_ms + int(rng.uniform(0, interval_s) * 1000)
    while t <= patrol.end_ms:
        whole = t - t % 1000  # GPS fixes come on whole seconds
        if not any(a <= whole < b for a, b in gaps) and (not times or times[-1] < whole):
            times.append(whole)
        t += int(interval_s * rng.uniform(0.8, 1.2) * 1000)
    return np.array(times, dtype=np.int64)


def record_track(
    district: District, patrol: Patrol, rng: random.Random, interval_s: float
) -> Track:
    """The fixes the terminal took during ``patrol`` (``interval_s``: its fix period)."""
    lateral = [rng.uniform(-PAVEMENT_M, PAVEMENT_M) for _ in patrol.legs]
    t = _fix_times(rng, patrol, interval_s)
    x, y, leg = _positions(district, patrol, lateral, t)
    on = ~np.isnan(x)
    t, x, y, leg = t[on], x[on], y[on], leg[on]
    g = np.random.default_rng(rng.getrandbits(64))
    n = len(t)
    outlier = g.random(n) < OUTLIER_SHARE
    accuracy = g.uniform(*GOOD_ACCURACY_M, n)
    error = accuracy * 0.95 * np.sqrt(g.random(n))  # uniform in the disc
    error[outlier] = g.uniform(20.0, 50.0, int(outlier.sum()))
    accuracy[outlier] = error[outlier] / g.uniform(0.7, 0.95, int(outlier.sum()))
    angle = g.uniform(0.0, 2 * math.pi, n)
    seen_x, seen_y = x + error * np.cos(angle), y + error * np.sin(angle)
    lat, lon = district.plane.to_wgs84_arrays(seen_x, seen_y)
    # rounded down so that the error stays within the reported accuracy
    return Track(t, x, y, leg, lat, lon, np.floor(accuracy * 10) / 10)
