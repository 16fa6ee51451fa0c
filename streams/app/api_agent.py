"""Role ``api``: the centre's HTTP doors (streams/api, docs/api.md) on CITYSTREAM_API_PORT.

The one module that speaks aiohttp. The server is aiohttp's, already installed with Faust,
started as a task of the worker (own port, own bind address, own body limit) beside Faust's
web server (/health and /metrics on CITYSTREAM_WEB_PORT). Writes go through Faust's
producer, as every agent's do: acks from all in-sync replicas, awaited before answering.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from streams.api.build import build_api
from streams.api.http import ApiError, Request, Response, error_response
from streams.api.service import Api
from streams.app.metrics import Metrics
from streams.settings import Settings

__all__ = ["register"]

log = logging.getLogger(__name__)


class FaustWriter:
    """:class:`streams.api.service.Writer` on the worker's Faust producer."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.topics: dict[str, Any] = {}

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        channel = self.topics.get(topic)
        if channel is None:
            channel = self.topics[topic] = self.app.topic(
                self.settings.kafka.topic(topic), key_serializer="raw", value_serializer="raw"
            )
        sent = await channel.send(key=key, value=value, force=True)
        await sent  # the broker acknowledged it


async def _request(raw: web.Request, limit: int) -> Request:
    try:
        body = await raw.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the body is larger than {limit} bytes") from None
    return Request(
        method=raw.method,
        path=raw.path,
        query={k: raw.query[k] for k in raw.query},
        headers={k.lower(): v for k, v in raw.headers.items()},
        body=body,
        remote=raw.remote or "",
    )


def _web_response(response: Response) -> web.Response:
    return web.Response(
        status=response.status,
        body=response.body,
        headers={"Content-Type": response.content_type, **response.headers},
    )


def make_web_app(api: Api, limit: int, metrics: Metrics) -> web.Application:
    async def handle(raw: web.Request) -> web.Response:
        fmt = "xml" if raw.path.endswith(".xml") else "json"
        try:
            request = await _request(raw, limit)
        except ApiError as exc:
            response = error_response(exc, fmt)
        else:
            response = await api.handle(request)
        metrics.inc("citystream_api_requests_total", status=str(response.status))
        return _web_response(response)

    web_app = web.Application(client_max_size=limit)
    web_app.router.add_route("*", "/{tail:.*}", handle)
    return web_app


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    api = build_api(settings, FaustWriter(app, settings))
    web_app = make_web_app(api, settings.api.max_body_bytes, metrics)

    async def serve() -> None:
        runner = web.AppRunner(web_app, access_log=None)  # our own log line has no query
        await runner.setup()
        site = web.TCPSite(runner, settings.api.bind, settings.api.port)
        await site.start()
        log.info("api listening on %s:%d", settings.api.bind, settings.api.port)
        try:
            await asyncio.Event().wait()  # until the worker stops and cancels the task
        finally:
            await runner.cleanup()

    app.task(serve)
