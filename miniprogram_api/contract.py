"""Declared operations: one decorator validates the request with pydantic,
authenticates the owner, renders the response through its declared model, and
leaves a record from which :mod:`miniprogram_api.openapi` builds the document.

    @bp.get("/houses/<int:house_id>/bills")
    @operation("List a house's bills", tag="bills", query=BillQuery, response=HouseBillsOut)
    def house_bills(owner_id: int, house_id: int, query: BillQuery): ...

The view receives ``owner_id`` (when ``auth``), its path parameters, ``query``
and ``body`` (when declared) and returns the response model, a dict shaped like
it, or None for 204.  Unknown fields and wrong types are refused with 422 in
the error format of ``server.errors``.
"""
from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pydantic
from flask import Response, current_app, g, request

from server.errors import NotFound, Unauthorized, ValidationError
from server.owners import sessions

MAX_ID = 2**31 - 1           # ids are 32-bit serials on PostgreSQL
_BEARER = re.compile(r"^Bearer\s+([A-Za-z0-9_\-]{16,128})\s*$", re.IGNORECASE)


@dataclass
class Operation:
    summary: str
    tag: str
    view_name: str
    body: Any = None
    query: Any = None
    response: Any = None
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: bool = True
    rate_limited: bool = False
    description: str = ""
    headers: list[dict] = field(default_factory=list)
    more_statuses: tuple[int, ...] = ()   # other success statuses with the same response model
    html: bool = False                    # the success response may also be text/html
    page: bool = False                    # an HTML page: every answer is text/html (see page())

    def error_statuses(self, has_path_params: bool) -> list[int]:
        codes = set(self.errors)
        if self.auth:
            codes.add(401)
        if self.body is not None or self.query is not None:
            codes.add(422)
        if has_path_params:
            codes.add(404)
        if self.rate_limited:
            codes.add(429)
        return sorted(codes)


def _details(exc: pydantic.ValidationError, where: str, *, tagged: bool = False) -> dict:
    """pydantic's errors as ``{"field.path": "message"}``.  In a tagged union
    (``tagged``) the first location is the variant's tag: left out."""
    details: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        parts = list(err["loc"])
        if tagged and parts and err["type"] != "union_tag_invalid":
            parts = parts[1:]
        loc = ".".join(str(part) for part in parts)
        key = loc or where
        details[key] = f"{details[key]}; {err['msg']}" if key in details else err["msg"]
    return details


def _parse_query(model) -> Any:
    raw = {key: values[0] if len(values) == 1 else values
           for key, values in request.args.lists()}
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ValidationError("请求参数有误", details=_details(exc, "query")) from None


def _parse_body(model) -> Any:
    data = request.get_data(cache=True) or b""
    if not data.strip():
        raise ValidationError("请求体不能为空", details={"body": "需要一个 JSON 对象"})
    try:
        return model.model_validate_json(data)
    except pydantic.ValidationError as exc:
        tagged = issubclass(model, pydantic.RootModel)
        raise ValidationError("请求参数有误", details=_details(exc, "body", tagged=tagged)) from None


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    match = _BEARER.match(header)
    if match is None:
        raise Unauthorized("登录已失效，请重新登录", code="TOKEN_INVALID")
    return match.group(1)


def authenticate() -> int:
    """Authenticate the bearer token once per request; the owner's id."""
    if "owner_session" not in g:
        g.owner_session = sessions.authenticate(bearer_token())
    return g.owner_session.owner_id


def render(op: Operation, result) -> Response:
    """The view's result as the declared response.  A view may return
    ``(result, status)`` for one of ``op.more_statuses``, or a finished
    :class:`Response` (the HTML variant of an ``html`` operation)."""
    if isinstance(result, Response):
        return result
    status = op.status
    if isinstance(result, tuple):
        result, status = result
        if status != op.status and status not in op.more_statuses:
            raise RuntimeError(f"{op.view_name} answered undeclared status {status}")
    if status == 204 or op.response is None:
        return Response(status=204)
    model = op.response
    if not isinstance(result, model):
        result = model.model_validate(result)
    # Straight to JSON bytes in pydantic's Rust serializer: the same document as
    # jsonify(model_dump(mode="json")) without building it twice in Python.
    return current_app.response_class(result.model_dump_json(by_alias=True), status=status,
                                      mimetype="application/json")


def operation(summary: str, *, tag: str, body=None, query=None, response=None, status: int = 200,
              errors: tuple[int, ...] = (), auth: bool = True, limit: Callable | None = None,
              description: str = "", headers: list[dict] | None = None,
              more_statuses: tuple[int, ...] = (), html: bool = False) -> Callable:
    """Declare an operation.  ``limit`` is a rate-limit decorator from
    :mod:`miniprogram_api.ratelimit`; it counts every attempt after the owner
    is known and before the request is parsed.  ``headers`` are OpenAPI header
    parameters (the view reads and checks them); ``more_statuses`` are other
    success statuses answered with the same model; ``html`` documents a
    ``text/html`` variant of the success response."""
    def decorate(view: Callable) -> Callable:
        op = Operation(summary=summary, tag=tag, view_name=view.__name__, body=body, query=query,
                       response=response, status=status, errors=tuple(errors), auth=auth,
                       rate_limited=limit is not None,
                       description=description or inspect.cleandoc(view.__doc__ or ""),
                       headers=list(headers or []), more_statuses=tuple(more_statuses),
                       html=html)

        @functools.wraps(view)
        def parsed(**kwargs):
            if op.query is not None:
                kwargs["query"] = _parse_query(op.query)
            if op.body is not None:
                kwargs["body"] = _parse_body(op.body)
            return view(**kwargs)

        if limit is not None:
            parsed = limit(parsed)   # registered under the view's own name (functools.wraps)

        @functools.wraps(view)
        def wrapper(**path):
            for name, value in path.items():
                if isinstance(value, int) and value > MAX_ID:
                    raise NotFound("资源不存在", details={name: "没有这个编号"})
            kwargs = dict(path)
            if op.auth:
                kwargs["owner_id"] = authenticate()
            return render(op, parsed(**kwargs))

        wrapper.openapi = op
        return wrapper

    return decorate


def page(summary: str, *, tag: str, params: list[dict] | None = None,
         errors: tuple[int, ...] = (), description: str = "") -> Callable:
    """Declare an HTML page under the API that needs no bearer token (what a
    mini-program ``<web-view>`` opens): documented with ``text/html`` answers,
    success and errors alike.  The view reads its own ``params`` (OpenAPI
    parameter objects) and returns a finished :class:`Response`."""
    def decorate(view: Callable) -> Callable:
        view.openapi = Operation(summary=summary, tag=tag, view_name=view.__name__, auth=False,
                                 errors=tuple(errors), headers=list(params or []),
                                 description=description or inspect.cleandoc(view.__doc__ or ""),
                                 html=True, page=True)
        return view

    return decorate
