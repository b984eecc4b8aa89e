"""The OpenAPI 3.1 document, built from the app's routes and the same pydantic
models that validate requests and render responses.

Only routes declared with :func:`miniprogram_api.contract.operation` appear,
with their real paths and methods read from the URL map, so the document
cannot list an endpoint that does not exist or miss one that does.  pydantic
emits JSON Schema 2020-12, the dialect of OpenAPI 3.1, so schemas are used as
they are.
"""
from __future__ import annotations

import re

from flask import Flask
from pydantic.json_schema import models_json_schema

from miniprogram_api.contract import MAX_ID
from miniprogram_api.schemas.common import ErrorResponse

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad request",
               401: "Not logged in, or the token expired or was revoked",
               403: "Forbidden", 404: "Not found (or not yours)", 409: "Conflict",
               410: "Gone: the link expired",
               422: "Invalid input: unknown fields, wrong types or values",
               429: "Too many requests", 502: "WeChat Pay refused the request",
               503: "WeChat or a dependency is unavailable"}
TAGS = [
    {"name": "auth", "description": "Log in with wx.login(); bearer tokens"},
    {"name": "houses", "description": "My houses, binding, fee standards"},
    {"name": "bills", "description": "Itemized bills and their history"},
    {"name": "orders", "description": "Paying bills with WeChat Pay"},
    {"name": "payments", "description": "Payment history and receipts (收据)"},
    {"name": "disputes", "description": "Questions on a bill (费用异议)"},
    {"name": "subscriptions", "description": "Reminder subscription messages"},
]


def _operations(app: Flask, prefix: str):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        op = getattr(view, "openapi", None)
        if op is None or not rule.rule.startswith(prefix):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method.lower(), op


def _path(rule) -> tuple[str, list[dict]]:
    params = []
    for match in _PARAM.finditer(rule.rule):
        if match.group("conv") == "int":
            schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
        else:
            schema = {"type": "string"}
        params.append({"name": match.group("name"), "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(lambda m: "{" + m.group("name") + "}", rule.rule), params


def _query_params(model, components: dict) -> list[dict]:
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    components.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        # An optional argument is absent, never null: a query string has no null.
        options = [s for s in prop.pop("anyOf", []) if s.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        if prop.get("default", "") is None:
            del prop["default"]
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _json(ref: dict) -> dict:
    return {"application/json": {"schema": ref}}


def build(app: Flask, *, prefix: str = "/api/v1", title: str = "WuyePay owner API",
          version: str = "1.0.0") -> dict:
    found = list(_operations(app, prefix))
    models = {(ErrorResponse, "serialization")}
    for _, _, op in found:
        if op.body is not None:
            models.add((op.body, "validation"))
        if op.response is not None:
            models.add((op.response, "serialization"))
    keys, top = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])),
                                   ref_template=REF)
    components = dict(top.get("$defs", {}))
    error_ref = keys[(ErrorResponse, "serialization")]
    paths: dict[str, dict] = {}
    for rule, method, op in found:
        path, params = _path(rule)
        if op.query is not None:
            params += _query_params(op.query, components)
        params += op.headers
        responses = {}
        if op.page:
            html = {"text/html": {"schema": {"type": "string"}}}
            responses["200"] = {"description": STATUS_TEXT[200], "content": html}
            for status in op.error_statuses(bool(_PARAM.search(rule.rule))):
                responses[str(status)] = {"description": STATUS_TEXT.get(status, "Error"),
                                          "content": html}
        elif op.status == 204 or op.response is None:
            responses["204"] = {"description": STATUS_TEXT[204]}
        else:
            ref = keys[(op.response, "serialization")]
            success = {"description": STATUS_TEXT.get(op.status, "OK"), "content": _json(ref)}
            if op.html:
                success["content"]["text/html"] = {"schema": {"type": "string"}}
            responses[str(op.status)] = success
            for status in op.more_statuses:
                responses[str(status)] = {"description": STATUS_TEXT.get(status, "OK"),
                                          "content": _json(ref)}
        for status in () if op.page else op.error_statuses(bool(_PARAM.search(rule.rule))):
            responses[str(status)] = {"description": STATUS_TEXT.get(status, "Error"),
                                      "content": _json(error_ref)}
        entry = {"operationId": op.view_name, "summary": op.summary, "tags": [op.tag],
                 "parameters": params, "responses": dict(sorted(responses.items())),
                 "security": [{"bearerAuth": []}] if op.auth else []}
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": _json(keys[(op.body, "validation")])}
        paths.setdefault(path, {})[method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "The WeChat mini-program's API for owners, tenants and family "
                                "members.  Money is integer fen (with a yuan string for display); "
                                "errors are {\"error\": {\"code\", \"message\", \"details\"}}."},
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "the token from POST /api/v1/auth/login"}},
        },
    }
