"""The district simulator: a seeded synthetic Qibin district, its three report feeds and the
patrol terminals' position pings.

Use :func:`generate` (or :class:`Simulation` to also get the incidents and patrols) for the
records, :meth:`Simulation.feed` for the records and the pings (:class:`TrackRecord`),
:func:`build_district` for the district, :func:`read_records` for ``.rec`` files.
Every record's ground truth (the real-world incident behind it, or the dead-letter reason
a damaged record must get) travels beside it in :class:`TruthRow`, never inside it.
"""

from streams.simulator.district import DISTRICT_SEED, District, build_district
from streams.simulator.engine import Simulation, generate
from streams.simulator.framing import RawRecord, read_framed, read_records, write_framed
from streams.simulator.incidents import SCENARIOS, Incident
from streams.simulator.records import SOURCES, PingTruth, SimRecord, TrackRecord, TruthRow

__all__ = [
    "DISTRICT_SEED",
    "SCENARIOS",
    "SOURCES",
    "District",
    "Incident",
    "PingTruth",
    "RawRecord",
    "SimRecord",
    "Simulation",
    "TrackRecord",
    "TruthRow",
    "build_district",
    "generate",
    "read_framed",
    "read_records",
    "write_framed",
]
