"""The bill list and the arrears report as exports that become tasks when large
(``server.admin.exporting``).

Both are reached from the bills page (``/admin/bills?export=csv`` and
``…&report=arrears``); their params are the page's filters as JSON, so a
worker rebuilds exactly the query the page showed.
"""
from __future__ import annotations

import datetime as dt

from server.admin import exporting
from server.admin.pages.billing_bills import EXPORT_HEADERS, _export_rows
from server.billing import queries
from server.imports.exports import (ARREARS_HEADERS, arrears_line_count_many,
                                   arrears_lines_by_community)
from server.property.models import Community
from server.timeutil import local_today

_BILL_FILTERS = ("building_id", "house_id", "period", "fee_item_id", "status")


# --- bills -----------------------------------------------------------------------------

def bill_params(f: queries.BillFilters) -> dict:
    params = {"community_ids": list(f.community_ids)}
    params.update({key: getattr(f, key) for key in _BILL_FILTERS})
    params["overdue_on"] = f.overdue_on.isoformat() if f.overdue_on else None
    return params


def bill_filters(params: dict) -> queries.BillFilters:
    f = queries.BillFilters(list(params["community_ids"]))
    for key in _BILL_FILTERS:
        setattr(f, key, params.get(key))
    f.overdue_on = dt.date.fromisoformat(params["overdue_on"]) if params.get("overdue_on") else None
    return f


BILLS = exporting.register(exporting.ExportList(
    "bills", "账单", EXPORT_HEADERS,
    count=lambda p: queries.bills(bill_filters(p)).count(),
    rows=lambda p: _export_rows(queries.bills(bill_filters(p)))))


def bills_export(f: queries.BillFilters, fmt: str):
    return exporting.respond("bills", bill_params(f), fmt)


# --- arrears (open bills with a balance per house, aged as of a day) ---------------------

def _communities(params: dict):
    return list(Community.select().where(Community.id.in_(params["community_ids"]))
                .order_by(Community.code))


def _arrears_rows(params: dict):
    as_of = dt.date.fromisoformat(params["as_of"])
    for community, row in arrears_lines_by_community(_communities(params), as_of):
        yield [community.name, *row]


ARREARS = exporting.register(exporting.ExportList(
    "arrears", "欠费明细", ["小区", *ARREARS_HEADERS],
    count=lambda p: arrears_line_count_many([c.id for c in _communities(p)]),
    rows=_arrears_rows))


def arrears_export(community_ids: list[int], fmt: str, as_of: dt.date | None = None):
    """Arrears of the chosen communities as of ``as_of`` (today in Shanghai), recorded
    at start so a task's file is as of the day it was asked for."""
    params = {"community_ids": list(community_ids), "as_of": (as_of or local_today()).isoformat()}
    return exporting.respond("arrears", params, fmt)


exporting.tasks.register_module("server.admin.export_lists")
