"""Dead-letter reason codes: the one list shared by the normalizer, the simulator and the sinks."""

from __future__ import annotations

from enum import Enum

__all__ = ["Reason"]


class Reason(str, Enum):  # noqa: UP042 - str() of members kept as other modules see it
    """Why a raw record (or one position ping of a track batch) was not accepted."""

    EMPTY_PAYLOAD = "empty_payload"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_COORDINATES = "bad_coordinates"
    OUT_OF_DISTRICT = "out_of_district"
    UNKNOWN_CRS = "unknown_crs"
    # a position the district declares a placeholder (a geocoder's city-centre default)
    PLACEHOLDER_POSITION = "placeholder_position"
    BAD_TIME = "bad_time"
    FUTURE_TIME = "future_time"
    STALE_TIME = "stale_time"
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_DEVICE_TYPE = "unknown_device_type"
    BAD_DEVICE_ID = "bad_device_id"
    UNKNOWN_ADDRESS = "unknown_address"
    DUPLICATE_SOURCE_ID = "duplicate_source_id"
    # No longer given: a late event is linked to a case (docs/lateness.md). Kept because
    # dead letters stored by earlier versions carry it.
    TOO_LATE = "too_late"
    ILLEGAL_TRANSITION = "illegal_transition"
    UNKNOWN_CASE = "unknown_case"
    # a verification from someone other than the case's assigned supervisor or the centre
    WRONG_ACTOR = "wrong_actor"
    # a return (退单) after the limit counted from the case's dispatch
    RETURN_TOO_LATE = "return_too_late"
    # a return naming a department that does not exist
    UNKNOWN_DEPARTMENT = "unknown_department"
    # Position pings of patrol terminals (raw.patrol_track, streams/intake/tracks.py):
    # a batch from an inspector id the roster does not hold
    UNKNOWN_INSPECTOR = "unknown_inspector"
    # a ping implying a speed above walking or cycling from the device's previous ping
    SPEED_JUMP = "speed_jump"
    # a ping of a device at a time the device already sent a ping for
    DUPLICATE_POINT = "duplicate_point"
    # a frame on an internal topic (events.fused) that does not decode: written by a foreign
    # producer or a newer version; dead-lettered whole so the partition goes on
    MALFORMED_FRAME = "malformed_frame"
    # A bug in an adapter met an input nobody foresaw: dead-lettered with the exception,
    # counted and alerted on, so that one poison record cannot stop the pipeline.
    INTERNAL_ERROR = "internal_error"
