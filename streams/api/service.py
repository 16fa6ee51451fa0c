"""The api's routes: who is asking (keys, scopes, rate), what they may do, what is written.

:class:`Api` takes a framework-free :class:`Request` and returns a :class:`Response`;
streams/app/api_agent.py serves it. Every write goes to a topic through :class:`Writer`
and is followed by its audit record (``api.audit``) with the key id; the response goes out
once the broker acknowledged both. Nothing is written for a refused request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streams.api import routes
from streams.api.audit import audit_record
from streams.api.board import BoardRenderer
from streams.api.http import ApiError, Request, Response, error_response
from streams.api.keys import ApiKey, KeyRing
from streams.api.limits import IN_FLIGHT, IdempotencyMemory, TokenBuckets
from streams.api.open311 import Catalog, RequestCheck
from streams.api.store import Reads

__all__ = ["Api", "Writer"]

log = logging.getLogger(__name__)

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class Writer(Protocol):
    """Sends one record to a logical topic and returns once the broker has it."""

    async def send(self, topic: str, key: bytes, value: bytes) -> None: ...


@dataclass
class Api:
    """Everything a request needs; one per api process."""

    keys: KeyRing
    reads: Reads
    writer: Writer
    catalog: Catalog
    check: RequestCheck
    departments: frozenset[str]
    return_due: Callable[[int, bool], int]  # (dispatched_at_ms, urgent) -> last return ms
    buckets: TokenBuckets
    idempotency: IdempotencyMemory
    board: BoardRenderer
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A blocking read, off the event loop; 503 while the store does not answer."""
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as exc:  # the driver's errors have no common base beyond this
            log.warning("api: read %s failed: %r", getattr(fn, "__name__", fn), exc)
            raise ApiError(503, "the case store is unavailable: retry later", _RETRY) from exc

    async def write(
        self,
        key_id: str,
        action: str,
        topic: str,
        record_key: str,
        record: bytes,
        case_id: int = 0,
        media: tuple[str, ...] = (),
    ) -> None:
        """``record`` to ``topic``, then its audit record; both acknowledged."""
        audit = audit_record(
            key_id, action, topic, record_key, record, self.now_ms(), case_id, media
        )
        try:
            await self.writer.send(topic, record_key.encode(), record)
            await self.writer.send(*audit)
        except Exception as exc:  # Kafka's errors, timeouts: the write may or may not be in
            log.warning("api: write to %s failed: %r", topic, exc)
            raise ApiError(
                503,
                "the write was not acknowledged: retry (a desk action with the same "
                "Idempotency-Key is applied once)",
                _RETRY,
            ) from exc

    def authenticate(self, request: Request, form_key: str = "") -> ApiKey:
        secret = _presented_key(request) or form_key
        if not secret:
            raise ApiError(401, "an API key is required", _CHALLENGE)
        key = self.keys.authenticate(secret)
        if key is None:
            raise ApiError(401, "the API key is not valid", _CHALLENGE)
        wait = self.buckets.take(key.id)
        if wait:
            raise ApiError(
                429, f"rate limit of key {key.id}: retry in {wait} s", {"Retry-After": str(wait)}
            )
        return key

    def authorize(self, request: Request, scope: str, form_key: str = "") -> ApiKey:
        key = self.authenticate(request, form_key)
        if not key.allows(scope):
            raise ApiError(403, f"key {key.id} lacks the scope {scope}")
        return key

    async def idempotent(
        self, request: Request, key: ApiKey, run: Callable[[str], Awaitable[Response]]
    ) -> Response:
        """``run(idempotency key)`` once per (key, Idempotency-Key); a retry gets the first
        success again, the same Idempotency-Key on another request a 422."""
        idem = request.headers.get("idempotency-key", "")
        if not _IDEMPOTENCY_KEY.fullmatch(idem):
            raise ApiError(400, "an Idempotency-Key header (1-128 of [A-Za-z0-9_.:-]) is required")
        memo = (key.id, idem)
        fingerprint = request.method.encode() + b" " + request.path.encode() + b"\n" + request.body
        found = self.idempotency.get(memo)
        if found is not None:
            first, answer = found
            if answer is IN_FLIGHT:
                raise ApiError(409, "a request with this Idempotency-Key is in progress")
            if first != fingerprint:
                raise ApiError(422, "this Idempotency-Key was used for another request")
            return Response(
                answer.status,
                answer.body,
                answer.content_type,
                {**answer.headers, "Idempotent-Replayed": "true"},
            )
        self.idempotency.put(memo, fingerprint, IN_FLIGHT)
        try:
            response = await run(idem)
        except BaseException:
            self.idempotency.forget(memo)
            raise
        self.idempotency.put(memo, fingerprint, response)
        return response

    async def handle(self, request: Request) -> Response:
        """The response to ``request``; refusals in the spec's error form."""
        started = time.perf_counter()
        fmt = "xml" if request.path.endswith(".xml") else "json"
        try:
            response = await routes.route(self, request)
        except ApiError as exc:
            response = error_response(exc, fmt)
        except Exception:
            log.exception("api: %s %s failed", request.method, request.path)
            response = error_response(ApiError(500, "internal error"), fmt)
        # the path only: a query string may carry an api_key
        log.info(
            "api %s %s -> %d in %.1f ms",
            request.method,
            request.path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response


# Basic for browsers (the board): the key is the password, the user name is ignored.
# Basic comes first: Chromium answers only the first challenge of the header.
_RETRY = {"Retry-After": "5"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="citystream", Bearer realm="citystream"'}


def _presented_key(request: Request) -> str:
    """The key from ``X-Api-Key``, ``Authorization: Bearer`` (or ``Basic``, the key as the
    password) or the ``api_key`` parameter."""
    header = request.headers.get("x-api-key", "")
    if header:
        return header.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if scheme.lower() == "basic" and token.strip():
        try:
            return base64.b64decode(token.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return request.query.get("api_key", "")
