"""``/openapi.json`` and ``/docs``: the contract, and a page listing it that needs no CDN."""
from __future__ import annotations

from flask import current_app, jsonify, render_template_string

from miniprogram_api import openapi
from miniprogram_api.blueprint import bp

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ doc.info.title }}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.op{border:1px solid #e3e3e3;border-radius:6px;padding:.6rem .9rem;margin:.8rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
.get{color:#1a7f37}.post{color:#0550ae}.delete{color:#cf222e}
code{background:#f4f4f4;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;margin:.3rem 0}td{padding:.1rem .6rem .1rem 0;vertical-align:top}
.muted{color:#666}
</style></head><body>
<h1>{{ doc.info.title }} <small class="muted">{{ doc.info.version }}</small></h1>
<p>{{ doc.info.description }}</p>
<p>Machine-readable: <a href="openapi.json"><code>openapi.json</code></a>
(OpenAPI {{ doc.openapi }}).  Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>
from <code>POST /api/v1/auth/login</code>.</p>
{% for tag in doc.tags %}{% set ops = by_tag.get(tag.name, []) %}{% if ops %}
<h2>{{ tag.name }} <small class="muted">{{ tag.description }}</small></h2>
{% for path, method, op in ops %}<div class="op" id="{{ op.operationId }}">
<div><span class="m {{ method }}">{{ method }}</span> <code>{{ path }}</code> — {{ op.summary }}
{% if not op.security %}<span class="muted">(no login)</span>{% endif %}</div>
{% if op.description %}<p class="muted">{{ op.description }}</p>{% endif %}
{% if op.parameters %}<table>{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td>
<td class="muted">{{ p.in }}{% if p.required %}, required{% endif %}</td>
<td>{{ p.description or '' }}</td></tr>{% endfor %}</table>{% endif %}
{% if op.requestBody %}<div>Body: <a href="#schema-{{ ref_name(op.requestBody) }}">
<code>{{ ref_name(op.requestBody) }}</code></a></div>{% endif %}
<div>Responses: {% for status, r in op.responses.items() %}<code>{{ status }}</code>
{%- if r.content and status[0] == '2' and ref_name(r) == 'HTML' %} text/html
{%- elif r.content and status[0] == '2' %} <a href="#schema-{{ ref_name(r) }}">{{ ref_name(r) }}</a>
{%- endif %}{% if not loop.last %}, {% endif %}{% endfor %}</div>
</div>{% endfor %}{% endif %}{% endfor %}
<h2>Schemas</h2>
{% for name, schema in doc.components.schemas.items() | sort %}
<div class="op" id="schema-{{ name }}"><b>{{ name }}</b>
{% if schema.description %}<span class="muted">{{ schema.description }}</span>{% endif %}
{% if schema.properties %}<table>{% for prop, s in schema.properties.items() %}
<tr><td><code>{{ prop }}</code></td>
<td class="muted">{{ type_of(s) }}{% if prop in (schema.required or []) %}, required{% endif %}</td>
<td>{{ s.description or '' }}</td></tr>{% endfor %}</table>{% endif %}</div>{% endfor %}
</body></html>"""


def ref_name(holder: dict) -> str:
    """The schema name of a request body or response in the document ("HTML" for a page)."""
    if "application/json" not in holder["content"]:
        return "HTML"
    return holder["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def type_of(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(type_of(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    return str(schema.get("type", "object"))


def document() -> dict:
    cached = current_app.extensions.get("wuyepay_openapi")
    if cached is None:
        cached = current_app.extensions["wuyepay_openapi"] = openapi.build(current_app)
    return cached


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


def render_docs(doc: dict, page: str = _PAGE) -> str:
    """The readable page of an OpenAPI document, its operations grouped by tag (also
    serves the staff API's docs)."""
    by_tag: dict[str, list] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((path, method, op))
    return render_template_string(page, doc=doc, by_tag=by_tag, ref_name=ref_name, type_of=type_of)


@bp.get("/docs")
def docs_page():
    return render_docs(document())
