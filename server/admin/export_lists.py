"""The bill list, the arrears report, the offline receipts, WeChat orders, refunds and
the audit log as exports that become tasks when large (``server.admin.exporting``).

Both are reached from the bills page (``/admin/bills?export=csv`` and
``…&report=arrears``); their params are the page's filters as JSON, so a
worker rebuilds exactly the query the page showed.
"""
from __future__ import annotations

import datetime as dt

from payments import queries as pay_queries
from server import audit
from server.admin import exporting
from server.admin.common import local_time
from server.admin.pages.billing_bills import EXPORT_HEADERS, _export_rows
from server.admin.pages.payments_common import CHANNELS, OFFLINE_STATUSES, ORDER_STATUSES, REFUND_STATUSES
from server.billing import queries
from server.imports.exports import (ARREARS_HEADERS, arrears_line_count_many,
                                   arrears_lines_by_community)
from server.money import format_yuan
from server.property.models import Community
from server.staff.models import StaffRole
from server.timeutil import local_midnight_utc, local_today

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


# --- payments: offline receipts, WeChat orders, refunds ----------------------------------

def _date(value):
    return dt.date.fromisoformat(value) if value else None


def _iso(value):
    return value.isoformat() if value else None


def _chunked(query, size: int = 500):
    """The orders of ``query`` in batches, each with its bill lines (one query a batch)."""
    batch = []
    for order in query.iterator():
        batch.append(order)
        if len(batch) == size:
            yield batch, pay_queries.order_lines([o.id for o in batch])
            batch = []
    if batch:
        yield batch, pay_queries.order_lines([o.id for o in batch])


def _offline_query(p: dict):
    return pay_queries.offline_payments(p["community_ids"], status=p.get("status") or "",
                                        channel=p.get("channel") or "", date_from=_date(p.get("date_from")),
                                        date_to=_date(p.get("date_to")), q=p.get("q") or "")


def _offline_rows(p: dict):
    for orders, lines in _chunked(_offline_query(p)):
        for o in orders:
            yield [o.pay.receipt_no if o.pay else "", o.community.name,
                   "、".join(sorted({ln.house_label for ln in lines[o.id]})),
                   "、".join(f"{ln.bill.period} {ln.bill.fee_item.name}" for ln in lines[o.id]),
                   CHANNELS.get(o.channel, o.channel), o.voucher_no, o.payer_name, format_yuan(o.total_fen),
                   OFFLINE_STATUSES.get(o.status, o.status), o.received_on,
                   o.operator.username if o.operator_id else "",
                   o.approved_by.username if o.approved_by_id else "", local_time(o.created_at)]


OFFLINE = exporting.register(exporting.ExportList(
    "offline_payments", "线下收款",
    ["收据号", "小区", "房屋", "账单", "收款方式", "凭证号", "交款人", "金额（元）", "状态",
     "收款日期", "收银员", "审批人", "登记时间"],
    count=lambda p: _offline_query(p).count(), rows=_offline_rows))


def offline_export(community_ids, fmt: str, *, status="", channel="", date_from=None, date_to=None, q=""):
    return exporting.respond("offline_payments", {
        "community_ids": list(community_ids), "status": status, "channel": channel,
        "date_from": _iso(date_from), "date_to": _iso(date_to), "q": q}, fmt)


def _orders_query(p: dict):
    return pay_queries.wechat_orders(p["community_ids"], status=p.get("status") or "", q=p.get("q") or "",
                                     date_from=_date(p.get("date_from")), date_to=_date(p.get("date_to")))


def _orders_rows(p: dict):
    for orders, lines in _chunked(_orders_query(p)):
        for o in orders:
            yield [o.out_trade_no, o.transaction_id, o.community.name,
                   "、".join(f"{ln.house_label} {ln.bill.period} {ln.bill.fee_item.name}"
                            for ln in lines[o.id]),
                   format_yuan(o.total_fen), ORDER_STATUSES.get(o.status, o.status),
                   local_time(o.created_at), local_time(o.paid_at), local_time(o.expires_at),
                   local_time(o.last_queried_at), o.last_error]


ORDERS = exporting.register(exporting.ExportList(
    "orders", "支付订单",
    ["商户订单号", "微信支付交易号", "小区", "账单", "金额（元）", "状态", "创建时间", "支付时间",
     "过期时间", "最近查询时间", "最近错误"],
    count=lambda p: _orders_query(p).count(), rows=_orders_rows))


def orders_export(community_ids, fmt: str, *, status="", q="", date_from=None, date_to=None):
    return exporting.respond("orders", {
        "community_ids": list(community_ids), "status": status, "q": q,
        "date_from": _iso(date_from), "date_to": _iso(date_to)}, fmt)


def _refunds_query(p: dict):
    return pay_queries.refunds(p["community_ids"], status=p.get("status") or "", q=p.get("q") or "")


def _refunds_rows(p: dict):
    for r in _refunds_query(p).iterator():
        yield [r.out_refund_no, r.payment.community.name, pay_queries.house_label(r.bill.house),
               r.bill.period, r.bill.fee_item.name, CHANNELS.get(r.payment.channel, r.payment.channel),
               format_yuan(r.amount_fen), r.reason, REFUND_STATUSES.get(r.status, r.status),
               r.requested_by.username if r.requested_by_id else "",
               r.approved_by.username if r.approved_by_id else "", local_time(r.created_at),
               local_time(r.succeeded_at)]


REFUNDS = exporting.register(exporting.ExportList(
    "refunds", "退款",
    ["退款单号", "小区", "房屋", "账期", "收费项目", "收款方式", "金额（元）", "原因", "状态",
     "申请人", "审批人", "申请时间", "成功时间"],
    count=lambda p: _refunds_query(p).count(), rows=_refunds_rows))


def refunds_export(community_ids, fmt: str, *, status="", q=""):
    return exporting.respond("refunds", {"community_ids": list(community_ids), "status": status, "q": q}, fmt)


# --- audit log (rows of no community only for admins) -------------------------------------

_AUDIT_FILTERS = ("actor_id", "action_prefix", "entity", "entity_id")


def _audit_query(p: dict):
    since, until = _date(p.get("date_from")), _date(p.get("date_to"))
    return audit.search(
        p["community_ids"], include_global=bool(p.get("include_global")),
        **{key: p.get(key) or "" for key in _AUDIT_FILTERS},
        since=local_midnight_utc(since) if since else None,
        until=local_midnight_utc(until + dt.timedelta(days=1)) if until else None)


def _audit_rows(p: dict):
    from server.admin.pages import labels
    from server.admin.pages.system import ACTOR_TYPES, ENTITY_NAMES, _json

    names = {c.id: c.name for c in Community.select(Community.id, Community.name)}
    for r in _audit_query(p).iterator():
        yield [local_time(r.at), ACTOR_TYPES.get(r.actor_type, r.actor_type), r.actor_id,
               labels.action_label(r.action), ENTITY_NAMES.get(r.entity, r.entity), r.entity_id,
               names.get(r.community_id, ""), _json(r.before), _json(r.after), r.note]


def _audit_scope(params: dict, user) -> dict:
    """Rows of no community stay in the file only while the starter is still an admin."""
    return {**params, "include_global": bool(params.get("include_global")) and user.role == StaffRole.ADMIN}


AUDIT = exporting.register(exporting.ExportList(
    "audit", "操作日志",
    ["时间", "操作人类型", "操作人", "操作", "对象", "对象编号", "小区", "变更前", "变更后", "备注"],
    count=lambda p: _audit_query(p).count(), rows=_audit_rows, scope=_audit_scope))


def audit_export(community_ids, fmt: str, *, include_global: bool, date_from=None, date_to=None, **filters):
    params = {"community_ids": list(community_ids), "include_global": include_global,
              "date_from": _iso(date_from), "date_to": _iso(date_to)}
    params.update({key: filters.get(key) or "" for key in _AUDIT_FILTERS})
    return exporting.respond("audit", params, fmt)


exporting.tasks.register_module("server.admin.export_lists")
