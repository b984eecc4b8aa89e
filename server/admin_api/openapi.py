"""The staff API's OpenAPI 3.1 document: the owner API's generator
(:func:`miniprogram_api.openapi.build`) run over ``/api/admin/v1``, with this
API's tags, description and bearer-token scheme."""
from __future__ import annotations

from flask import Flask

from miniprogram_api import openapi

PREFIX = "/api/admin/v1"
TAGS = [
    {"name": "property", "description": "Communities and houses (房屋)"},
    {"name": "bills", "description": "Bills (应收), meter readings, adjustments"},
    {"name": "billing-runs", "description": "Billing a community for a period: preview, issue"},
    {"name": "payments", "description": "Offline receipts and payments received; ERP sync"},
    {"name": "refunds", "description": "Refund requests and their approval"},
    {"name": "reconciliation", "description": "Differences with WeChat Pay's trade bills"},
    {"name": "disputes", "description": "Owners' questions on bills (费用异议)"},
    {"name": "alerts", "description": "Operational alerts"},
    {"name": "reports", "description": "收缴率 as of a date"},
]
DESCRIPTION = (
    "The staff API, for a property company's ERP or scripts.  Authenticate with "
    "`Authorization: Bearer wyp_…`, a token issued by `wuyepay staff token create`; it acts with "
    "its staff member's role and communities.  `viewer` reads; `cashier` also records meter "
    "readings and offline payments and requests adjustments and refunds; `manager` and `admin` "
    "also approve, issue billing runs and resolve.  A record of a community outside the token's "
    "scope answers 404.  Money is integer fen in `*_fen` fields; unit prices and quantities are "
    "exact decimal strings.  Lists page by ascending id: pass `next_after_id` back as `after_id`.  "
    "Errors are {\"error\": {\"code\", \"message\", \"details\"}}.")


def build(app: Flask) -> dict:
    doc = openapi.build(app, prefix=PREFIX, title="WuyePay staff API", version="1.0.0")
    doc["info"]["description"] = DESCRIPTION
    used = {op["tags"][0] for methods in doc["paths"].values() for op in methods.values()}
    doc["tags"] = [t for t in TAGS if t["name"] in used]
    doc["components"]["securitySchemes"]["bearerAuth"]["description"] = (
        "a staff API token (wyp_…) from `wuyepay staff token create`")
    return doc
