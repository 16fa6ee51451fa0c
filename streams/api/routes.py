"""The paths of the api and their handlers (docs/api.md has the table)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from streams.api import desk
from streams.api.http import (
    ApiError,
    Request,
    Response,
    html_response,
    json_response,
    xml_object,
    xml_response,
)
from streams.api.open311 import new_request_id, parse_date, parse_fields, request_view
from streams.cases.transitions import Action, CaseUpdate
from streams.contracts.fused import event_id_for
from streams.contracts.sources import Source
from streams.contracts.topics import RAW_TOPICS, UPDATES

if TYPE_CHECKING:
    from streams.api.service import Api

__all__ = ["route"]

Handler = Callable[["Api", Request, dict[str, str]], Awaitable[Response]]
HOTLINE = Source.HOTLINE.label
MAX_REQUESTS = 1000  # the spec's default cap on a requests.json answer
DEFAULT_SPAN_MS = 90 * 86_400_000  # the spec's default window: the last 90 days
_ID = r"[A-Za-z0-9._-]{1,64}"


def _fmt(params: dict[str, str]) -> str:
    return params.get("fmt", "json")


def _listing(
    root: str, item: str, items: list[dict[str, Any]], fmt: str, status: int = 200
) -> Response:
    if fmt == "xml":
        return xml_response(root, item, items, status)
    return json_response(items, status)


async def services(api: Api, request: Request, params: dict[str, str]) -> Response:
    return _listing("services", "service", list(api.catalog.services.values()), _fmt(params))


async def service_definition(api: Api, request: Request, params: dict[str, str]) -> Response:
    found = api.catalog.definition(params["code"])
    if _fmt(params) == "xml":
        return xml_object("service_definition", found)
    return json_response(found)


async def post_request(api: Api, request: Request, params: dict[str, str]) -> Response:
    fields = parse_fields(request)
    form_key = fields.get("api_key")
    key = api.authorize(request, "open311:write", form_key if isinstance(form_key, str) else "")
    request_id = new_request_id()
    record = api.check.record(fields, request_id, api.now_ms())
    await api.write(
        key.id, "open311_request", RAW_TOPICS[HOTLINE], request_id, orjson.dumps(record)
    )
    answer = [{"service_request_id": request_id, "service_notice": "", "account_id": None}]
    return _listing("service_requests", "request", answer, _fmt(params), 201)


async def _views(api: Api, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = [orjson.loads(r["record"]) for r in rows]
    events = {event_id_for(HOTLINE, r["service_request_id"]): r for r in records}
    links = await api.read(api.reads.links, list(events))
    case_ids = sorted(set(links.values()))
    cases = await api.read(api.reads.cases, case_ids)
    notes = await api.read(api.reads.handle_notes, case_ids)
    views = []
    for event_id, record in events.items():
        case_id = links.get(event_id)
        case = cases.get(case_id) if case_id is not None else None
        note = notes.get(case_id, "") if case_id is not None else ""
        department = api.catalog.department.get(record["service_code"], "")
        views.append(request_view(record, case, note, department))
    return views


async def get_requests(api: Api, request: Request, params: dict[str, str]) -> Response:
    api.authorize(request, "open311:read")
    q = request.query
    ids = [i for i in q.get("service_request_id", "").split(",") if i]
    codes = {c for c in q.get("service_code", "").split(",") if c}
    statuses = {s for s in q.get("status", "").split(",") if s}
    if statuses - {"open", "closed"}:
        raise ApiError(400, "status must be open, closed or both (comma-separated)")
    end = parse_date(q, "end_date") or api.now_ms()
    start = parse_date(q, "start_date") or end - DEFAULT_SPAN_MS
    if start > end:
        raise ApiError(400, "start_date is after end_date")
    rows = await api.read(api.reads.requests, ids, start, end, MAX_REQUESTS)
    views = [
        v
        for v in await _views(api, rows)
        if (not codes or v["service_code"] in codes) and (not statuses or v["status"] in statuses)
    ]
    return _listing("service_requests", "request", views, _fmt(params))


async def get_request(api: Api, request: Request, params: dict[str, str]) -> Response:
    api.authorize(request, "open311:read")
    rows = await api.read(api.reads.requests, [params["id"]], 0, 0, 1)
    if not rows:
        raise ApiError(404, f"no service request {params['id']!r}")
    return _listing("service_requests", "request", await _views(api, rows), _fmt(params))


async def department_cases(api: Api, request: Request, params: dict[str, str]) -> Response:
    department = params["department"]
    api.authorize(request, f"desk:{department}")
    cases = await api.read(api.reads.department_cases, department)
    escalations = await api.read(api.reads.escalations, [c["case_id"] for c in cases])
    now = api.now_ms()
    views = [desk.case_view(c, escalations.get(int(c["case_id"]), []), now) for c in cases]
    views.sort(key=_board_order)
    return json_response({"department": department, "cases": views, "as_of_ms": now})


def _case_id(params: dict[str, str]) -> int:
    text = params["case_id"]
    if not text.isdigit() or len(text) > 20:
        raise ApiError(404, f"no case {text[:30]!r}")
    return int(text)


async def department_action(api: Api, request: Request, params: dict[str, str]) -> Response:
    department = params["department"]
    key = api.authorize(request, f"desk:{department}")
    case_id = _case_id(params)

    async def run(idem: str) -> Response:
        action = desk.parse_action(request.body, api.departments)
        case = (await api.read(api.reads.cases, [case_id])).get(case_id)
        if case is None:
            raise ApiError(404, f"no case {case_id}")
        if case["department"] != department:
            raise ApiError(403, f"case {case_id} is not with {department}")
        desk.check_transition(case, action.action)
        if action.action is Action.RETURN:
            await _check_return(api, case)
        update = CaseUpdate(
            update_id=f"desk:{key.id}:{idem}",
            case_id=case_id,
            action=action.action,
            actor=key.id,
            department=department,
            ts_ms=api.now_ms(),
            note=action.note,
            to_department=action.to_department,
        )
        return await _send_update(api, key.id, update, action.media_urls)

    return await api.idempotent(request, key, run)


async def _check_return(api: Api, case: dict[str, Any]) -> None:
    order = await api.read(api.reads.dispatch_order, int(case["case_id"]))
    if order is None:
        raise ApiError(409, f"case {case['case_id']} has no dispatch order to return")
    due = api.return_due(int(order["dispatched_at"]), bool(order["urgent"]))
    if api.now_ms() > due:
        raise ApiError(409, f"case {case['case_id']}: the return limit passed at {due} ms")


async def _send_update(
    api: Api, key_id: str, update: CaseUpdate, media: tuple[str, ...]
) -> Response:
    value = orjson.dumps(update.to_dict())
    await api.write(
        key_id,
        f"desk_{update.action.value}",
        UPDATES,
        str(update.case_id),
        value,
        update.case_id,
        media,
    )
    answer = {
        "update_id": update.update_id,
        "case_id": update.case_id,
        "action": update.action.value,
        "accepted": True,
    }
    return json_response(answer, 202)


async def supervisor_tasks(api: Api, request: Request, params: dict[str, str]) -> Response:
    supervisor = params["supervisor"]
    api.authorize(request, f"verify:{supervisor}")
    tasks = await api.read(api.reads.open_tasks, supervisor)
    now = api.now_ms()
    return json_response(
        {
            "supervisor": supervisor,
            "tasks": [desk.task_view(t, now) for t in tasks],
            "as_of_ms": now,
        }
    )


async def supervisor_verdict(api: Api, request: Request, params: dict[str, str]) -> Response:
    supervisor = params["supervisor"]
    key = api.authorize(request, f"verify:{supervisor}")
    case_id = _case_id(params)

    async def run(idem: str) -> Response:
        verdict = desk.parse_verdict(request.body)
        task = await api.read(api.reads.open_task, case_id)
        if task is None:
            raise ApiError(404, f"no open verify task for case {case_id}")
        if task["supervisor"] != supervisor:
            raise ApiError(403, f"the verify task of case {case_id} is not {supervisor}'s")
        case = (await api.read(api.reads.cases, [case_id])).get(case_id)
        if case is None:
            raise ApiError(404, f"no case {case_id}")
        desk.check_transition(case, verdict.action)
        update = CaseUpdate(
            update_id=f"desk:{key.id}:{idem}",
            case_id=case_id,
            action=verdict.action,
            actor=supervisor,
            department=str(case["department"]),
            ts_ms=api.now_ms(),
            note=verdict.note,
        )
        return await _send_update(api, key.id, update, verdict.media_urls)

    return await api.idempotent(request, key, run)


async def board(api: Api, request: Request, params: dict[str, str]) -> Response:
    api.authorize(request, "board:read")
    cases = await api.read(api.reads.open_cases)
    escalations = await api.read(api.reads.escalations, [c["case_id"] for c in cases])
    now = api.now_ms()
    views = [
        {
            **desk.case_view(c, escalations.get(int(c["case_id"]), []), now),
            "department": c["department"],
        }
        for c in cases
    ]
    views.sort(key=_board_order)
    return html_response(api.board.board(views, now))


def _board_order(view: dict[str, Any]) -> tuple[bool, bool, int]:
    """Overdue first, then escalated, then by the time left (paused holds last)."""
    left = view["time_left_s"]
    return not view["overdue"], not view["escalations"], 2**62 if left is None else left


async def board_case(api: Api, request: Request, params: dict[str, str]) -> Response:
    api.authorize(request, "board:read")
    case_id = _case_id(params)
    case = (await api.read(api.reads.cases, [case_id])).get(case_id)
    if case is None:
        raise ApiError(404, f"no case {case_id}")
    events = await api.read(api.reads.case_events, case_id)
    stages = await api.read(api.reads.case_stages, case_id)
    requests = [e["source_ref"] for e in events if int(e["source"]) == Source.HOTLINE]
    audit = await api.read(api.reads.case_audit, case_id, requests)
    return html_response(api.board.case(case, events, stages, audit))


async def health(api: Api, request: Request, params: dict[str, str]) -> Response:
    return json_response({"status": "ok"})


_FMT = r"\.(?P<fmt>json|xml)"
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/health"), {"GET": health}),
    (re.compile(r"/board"), {"GET": board}),
    (re.compile(r"/board/cases/(?P<case_id>[^/]+)"), {"GET": board_case}),
    (re.compile(rf"/open311/v2/services{_FMT}"), {"GET": services}),
    (
        re.compile(rf"/open311/v2/services/(?P<code>[^/]{{1,80}}){_FMT}"),
        {"GET": service_definition},
    ),
    (re.compile(rf"/open311/v2/requests{_FMT}"), {"GET": get_requests, "POST": post_request}),
    (re.compile(rf"/open311/v2/requests/(?P<id>{_ID}){_FMT}"), {"GET": get_request}),
    (re.compile(rf"/desk/v1/departments/(?P<department>{_ID})/cases"), {"GET": department_cases}),
    (
        re.compile(rf"/desk/v1/departments/(?P<department>{_ID})/cases/(?P<case_id>[^/]+)/actions"),
        {"POST": department_action},
    ),
    (re.compile(rf"/desk/v1/supervisors/(?P<supervisor>{_ID})/tasks"), {"GET": supervisor_tasks}),
    (
        re.compile(rf"/desk/v1/supervisors/(?P<supervisor>{_ID})/tasks/(?P<case_id>[^/]+)/verdict"),
        {"POST": supervisor_verdict},
    ),
]


async def route(api: Api, request: Request) -> Response:
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(request.path)
        if match is None:
            continue
        handler = methods.get(request.method)
        if handler is None:
            raise ApiError(
                405,
                f"{request.method} is not allowed on {request.path}",
                {"Allow": ", ".join(sorted(methods))},
            )
        return await handler(api, request, match.groupdict())
    raise ApiError(404, f"no such path {request.path[:100]!r}")
