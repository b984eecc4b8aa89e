"""The counter: ``/offline-payments`` (list, approve, reject), ``/cash-close`` and ``/receipts``."""
from __future__ import annotations

from payments import offline
from payments import queries as pay_queries
from payments.models import OrderStatus
from server.admin_api import actions, lists
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.common import Decision
from server.admin_api.schemas.counter import (CashCloseBody, CashCloseOut, CashDayOut, CashDayQuery,
                                              OfflineQuery, OrdersOut, ReceiptOut)
from server.admin_api.schemas.payments import OfflinePaymentOut
from server.errors import Conflict, NotFound
from server.ledger.receipts import staff_receipt
from server.staff.models import StaffUser
from server.timeutil import local_today


@bp.get("/offline-payments")
@staff_operation("Offline receipts, filtered (status created: waiting for approval)", tag="payments",
                 query=OfflineQuery, response=OrdersOut)
def list_offline_payments(staff: StaffContext, query: OfflineQuery):
    return lists.offline_orders(
        staff.scope(query.community_id), status=query.status or "", channel=query.channel or "",
        date_from=query.date_from, date_to=query.date_to, operator_id=query.operator_id,
        q=query.q or "", limit=query.limit, after_id=query.after_id)


@bp.post("/offline-payments/<int:order_id>/approve")
@staff_operation("Approve an offline receipt at or above the threshold (not your own): it is booked",
                 tag="payments", roles=MANAGE, body=Decision, response=OfflinePaymentOut, errors=(409,))
def approve_offline_payment(staff: StaffContext, order_id: int, body: Decision):
    """Approving a receipt already booked changes nothing (200, ``paid``); a rejected one is 409."""
    order = lists.order_in_scope(order_id, staff.community_ids, offline=True)
    if order.status == OrderStatus.CLOSED:
        raise Conflict("该收款已被驳回", code="OFFLINE_PAYMENT_REJECTED")
    return actions.offline_payment_dict(offline.approve_offline_payment(order.id, staff.actor))


@bp.post("/offline-payments/<int:order_id>/reject")
@staff_operation("Reject an offline receipt waiting for approval: its bills are released",
                 tag="payments", roles=MANAGE, body=Decision, response=OfflinePaymentOut, errors=(409,))
def reject_offline_payment(staff: StaffContext, order_id: int, body: Decision):
    order = lists.order_in_scope(order_id, staff.community_ids, offline=True)
    if order.status not in (OrderStatus.CREATED, OrderStatus.CLOSED):
        raise Conflict("该收款已入账，不能驳回；请走退款", code="ALREADY_BOOKED")
    return actions.offline_payment_dict(offline.reject_offline_payment(order.id, staff.actor, body.note))


def _operator(staff: StaffContext, operator_id: int | None) -> int:
    """Cashiers see and close their own day; managers and admins any cashier's."""
    if operator_id is None or operator_id == staff.user.id:
        return staff.user.id
    staff.require(*MANAGE)
    if StaffUser.get_or_none(StaffUser.id == operator_id) is None:
        raise NotFound("收银员不存在")
    return operator_id


def _close_dict(c) -> dict:
    return {"id": c.id, "operator_id": c.operator_id, "community_id": c.community_id,
            "business_date": c.business_date, "count": c.count, "total_fen": c.total_fen,
            "totals": c.totals or {}, "closed_at": c.closed_at}


@bp.get("/cash-close")
@staff_operation("A cashier's day (日结) in one community: receipts by channel, and its close",
                 tag="payments", query=CashDayQuery, response=CashDayOut)
def cash_day(staff: StaffContext, query: CashDayQuery):
    staff.check(query.community_id)
    operator_id = _operator(staff, query.operator_id)
    day = query.date or local_today()
    summary = pay_queries.cash_day(operator_id, query.community_id, day)
    lines = lists._lines([o.id for o in summary["orders"]])
    return {"operator_id": operator_id, "community_id": query.community_id, "date": day,
            "count": summary["count"], "total_fen": summary["total_fen"], "pending": summary["pending"],
            "by_channel": [{"channel": c, "count": t["count"], "total_fen": t["fen"]}
                           for c, t in summary["totals"].items()],
            "orders": [lists.order_dict(o, lines[o.id]) for o in summary["orders"]],
            "close": _close_dict(summary["close"]) if summary["close"] else None}


@bp.post("/cash-close")
@staff_operation("Close a cashier's day: total it by channel and lock it", tag="payments", roles=WRITE,
                 body=CashCloseBody, response=CashCloseOut, status=201, errors=(409,))
def close_cash_day(staff: StaffContext, body: CashCloseBody):
    """409 ``PENDING_APPROVALS`` while receipts wait for approval, ``CASH_DAY_CLOSED`` when the
    day is closed already.  Nothing more can be booked into a closed day."""
    staff.check(body.community_id)
    operator_id = _operator(staff, body.operator_id)
    return _close_dict(offline.close_cash_day(operator_id, body.community_id, body.date, staff.actor)), 201


@bp.get("/receipts/<number>")
@staff_operation("A receipt (收据) by its number, as printed at the counter", tag="payments",
                 response=ReceiptOut)
def get_receipt(staff: StaffContext, number: str):
    data = staff_receipt(number)
    if data is None:
        raise NotFound("收据不存在", code="RECEIPT_NOT_FOUND")
    staff.check(data["community_id"])
    return {name: data[name] for name in ReceiptOut.model_fields}
