"""The staff API's OpenAPI 3.1 document: the owner API's generator
(:func:`miniprogram_api.openapi.build`) run over ``/api/admin/v1``, with this
API's tags, description and bearer-token scheme."""
from __future__ import annotations

from flask import Flask

from miniprogram_api import openapi

PREFIX = "/api/admin/v1"
TAGS = [
    {"name": "property", "description": "Communities, buildings, houses (房屋), bindings and binding codes"},
    {"name": "fees", "description": "Fee items and their standard versions (收费标准): draft → publish"},
    {"name": "bills", "description": "Bills (应收), meter readings, adjustments"},
    {"name": "billing-runs", "description": "Billing a community for a period: preview, issue (a task)"},
    {"name": "payments", "description": "Offline receipts, their approval, the cash close (日结), "
                                        "receipts and payments received; ERP sync"},
    {"name": "orders", "description": "Owners' WeChat Pay orders"},
    {"name": "refunds", "description": "Refund requests and their approval"},
    {"name": "reconciliation", "description": "Differences with WeChat Pay's trade bills"},
    {"name": "disputes", "description": "Owners' questions on bills (费用异议)"},
    {"name": "alerts", "description": "Operational alerts"},
    {"name": "reports", "description": "收缴率 as of a date"},
    {"name": "reminders", "description": "Payment reminders: policies, log, manual campaigns"},
    {"name": "imports", "description": "Houses, readings and opening arrears from CSV/XLSX"},
    {"name": "tasks", "description": "Long operations run in the background, with progress"},
    {"name": "audit", "description": "Every change, with before and after"},
]
DESCRIPTION = (
    "The staff API, for a property company's ERP or scripts.  Authenticate with "
    "`Authorization: Bearer wyp_…`, a token issued by `wuyepay staff token create`; it acts with "
    "its staff member's role and communities.  `viewer` reads; `cashier` also records meter "
    "readings and offline payments and requests adjustments and refunds; `manager` and `admin` "
    "also approve, issue billing runs and resolve.  A record of a community outside the token's "
    "scope answers 404.  Long operations (issuing a billing run, a big import, a reminder "
    "campaign) answer 202 with a task: follow `GET /tasks/{id}`.  Money is integer fen in `*_fen` "
    "fields; unit prices and quantities are exact decimal strings.  Lists page by ascending id: "
    "pass `next_after_id` back as `after_id`.  "
    "Errors are {\"error\": {\"code\", \"message\", \"details\"}}.")


def build(app: Flask) -> dict:
    doc = openapi.build(app, prefix=PREFIX, title="WuyePay staff API", version="1.0.0")
    doc["info"]["description"] = DESCRIPTION
    used = {op["tags"][0] for methods in doc["paths"].values() for op in methods.values()}
    doc["tags"] = [t for t in TAGS if t["name"] in used]
    from server.admin_api.views.imports import MULTIPART

    for path, methods in doc["paths"].items():
        if path.startswith(f"{PREFIX}/imports/"):
            methods["post"]["requestBody"] = {"required": True, "content": MULTIPART}
    doc["components"]["securitySchemes"]["bearerAuth"]["description"] = (
        "a staff API token (wyp_…) from `wuyepay staff token create`")
    return doc
