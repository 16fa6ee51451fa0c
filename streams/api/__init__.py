"""The api role's core: Open311 GeoReport v2, the department and supervisor desks, keys
and scopes (docs/api.md). Framework-free: requests and responses are plain data
(:mod:`streams.api.http`); the one module that speaks aiohttp is streams/app/api_agent.py.
Writes go to topics through a :class:`streams.api.service.Writer`, reads come from
ClickHouse (:mod:`streams.api.store`)."""
