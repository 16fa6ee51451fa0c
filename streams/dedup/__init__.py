"""The dedup core: engine, tile routing and halos, canonical ordering, state snapshots."""
