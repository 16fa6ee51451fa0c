"""Case logic for dispatch and lifecycle: calendar, state machine, dispatch, department simulator.

Pure code (no Kafka, no Faust): the streaming agents call it; tests and offline replays too.
"""
