from __future__ import annotations

import io
import logging
import logging.config

import orjson
import pytest

from streams.app.logs import JsonFormatter, logging_config


def test_json_lines_carry_level_logger_message_and_exception() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("citystream.test.logs")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("lag %d on %s", 7, "raw.sensor")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING"
    assert first["logger"] == "citystream.test.logs"
    assert first["msg"] == "lag 7 on raw.sensor"
    assert "RuntimeError: boom" in second["exc"]


def test_config_is_valid_for_both_formats_and_rejects_others() -> None:
    for fmt in ("json", "text"):
        logging.config.dictConfig(logging_config("INFO", fmt))
    with pytest.raises(ValueError, match="json or text"):
        logging_config("INFO", "xml")
