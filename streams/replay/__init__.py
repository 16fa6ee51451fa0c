"""Offline replay and backfill: the dedup core over raw files, without Kafka."""

from streams.replay.core import RawInput, ReplayResult, replay

__all__ = ["RawInput", "ReplayResult", "replay"]
