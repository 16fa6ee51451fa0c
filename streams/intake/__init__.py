"""Intake: raw sensor, hotline and patrol records to canonical fused events or dead letters."""
