"""Requests and responses as plain data, and the Open311 renderings (JSON and XML).

Errors take the spec's form everywhere, the desks included: a list of ``{code,
description}`` (``<errors><error>`` in XML), ``code`` being the HTTP status.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "MEDIA_URL",
    "ApiError",
    "Request",
    "Response",
    "error_response",
    "html_response",
    "json_response",
    "xml_object",
    "xml_response",
]

# a photo or media link as the api takes it: http(s) only (the board shows them as links)
MEDIA_URL = re.compile(r"https?://[^\s]{1,400}")
JSON = "application/json; charset=utf-8"
XML = "text/xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


class ApiError(Exception):
    """A request refused with ``status`` (4xx) and a description for the client."""

    def __init__(
        self, status: int, description: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status
        self.description = description
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]  # the first value of each parameter
    headers: Mapping[str, str]  # names in lower case
    body: bytes = b""
    remote: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The decoded body (tests, and the idempotency memory's fingerprints)."""
        return orjson.loads(self.body)


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, orjson.dumps(value), JSON, dict(headers or {}))


def html_response(page: str, status: int = 200) -> Response:
    return Response(status, page.encode("utf-8"), HTML)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(tag: str, value: Any) -> ET.Element:
    node = ET.Element(tag)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            node.append(_element(key, inner))
    elif isinstance(value, list | tuple):
        for inner in value:  # Open311 XML repeats the singular: <keywords> of <keyword>
            node.append(_element(tag[:-1] if tag.endswith("s") else "item", inner))
    else:
        node.text = _text(value)
    return node


def xml_response(
    root: str,
    item: str,
    items: Sequence[Mapping[str, Any]],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``<root><item>...</item>...</root>`` as the spec's XML examples are laid out."""
    tree = ET.Element(root)
    for entry in items:
        tree.append(_element(item, entry))
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(tree, encoding="utf-8")
    return Response(status, body, XML, dict(headers or {}))


def xml_object(root: str, value: Mapping[str, Any], status: int = 200) -> Response:
    """One object as ``<root>...</root>`` (a service definition)."""
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(
        _element(root, value), encoding="utf-8"
    )
    return Response(status, body, XML)


def error_response(error: ApiError, fmt: str = "json") -> Response:
    items = [{"code": error.status, "description": error.description}]
    if fmt == "xml":
        return xml_response("errors", "error", items, error.status, error.headers)
    return json_response(items, error.status, error.headers)
