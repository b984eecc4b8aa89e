"""Read-side helpers for the staff payment pages: houses and their open bills,
offline receipts, cash days, WeChat orders, payments and refunds.

Every list is a fixed number of queries whatever its length (joins, or one
extra query for the lines of a whole page).  Nothing here writes.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from payments.models import CashClose, Channel, NotifyEvent, OrderBill, OrderStatus, PaymentOrder
from server.audit import AuditLog
from server.billing.models import Bill, BillStatus, FeeItem
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.property.models import Building, Community, House
from server.staff.models import StaffUser
from server.timeutil import local_midnight_utc

Operator = StaffUser.alias("operator")
Approver = StaffUser.alias("approver")
Requester = StaffUser.alias("requester")


def house_label(house: House) -> str:
    """``1栋-2-101``: building, unit (when there is one), room."""
    return "-".join(x for x in (house.building.name, house.unit, house.room_no) if x)


def find_houses(community_ids: list[int], building: str = "", room: str = "", limit: int = 50):
    """Houses of the given communities whose building and room contain the text typed."""
    query = (House.select(House, Building, Community).join(Building)
             .switch(House).join(Community, on=(House.community == Community.id))
             .where(House.community.in_(community_ids)))
    if building:
        query = query.where(Building.name.contains(building))
    if room:
        query = query.where(House.room_no.contains(room))
    return list(query.order_by(Community.code, Building.name, House.unit, House.room_no).limit(limit))


def house_with_place(house_id: int) -> House | None:
    return (House.select(House, Building, Community).join(Building)
            .switch(House).join(Community, on=(House.community == Community.id))
            .where(House.id == house_id).first())


def open_bills(house_id: int) -> list[Bill]:
    """The house's bills with something left to pay, oldest first; ``in_order`` set
    on a bill held by an open order (WeChat cashier or a receipt awaiting approval)."""
    bills = list(Bill.select(Bill, FeeItem).join(FeeItem)
                 .where(Bill.house == house_id, Bill.status.in_(BillStatus.OPEN))
                 .order_by(Bill.period, FeeItem.code, Bill.id))
    held = {line.open_bill_id: line.order_id
            for line in OrderBill.select(OrderBill.open_bill, OrderBill.order)
            .where(OrderBill.open_bill.in_([b.id for b in bills]))} if bills else {}
    for bill in bills:
        bill.in_order = held.get(bill.id)
    return bills


def _orders(community_ids: list[int]):
    return _orders_any().where(PaymentOrder.community.in_(community_ids))


def offline_payments(community_ids: list[int], *, status: str = "", channel: str = "",
                     date_from: dt.date | None = None, date_to: dt.date | None = None,
                     operator_id: int | None = None, q: str = ""):
    """Offline receipts (newest first), each with its community, cashier, approver and payment."""
    query = _orders(community_ids).where(PaymentOrder.channel.in_(Channel.OFFLINE))
    if status:
        query = query.where(PaymentOrder.status == status)
    if channel:
        query = query.where(PaymentOrder.channel == channel)
    if date_from:
        query = query.where(PaymentOrder.received_on >= date_from)
    if date_to:
        query = query.where(PaymentOrder.received_on <= date_to)
    if operator_id:
        query = query.where(PaymentOrder.operator == operator_id)
    if q:
        query = query.where(PaymentOrder.voucher_no.contains(q) | Payment.receipt_no.contains(q)
                            | PaymentOrder.payer_name.contains(q))
    return query.order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc())


def wechat_orders(community_ids: list[int], *, status: str = "", q: str = "",
                  date_from: dt.date | None = None, date_to: dt.date | None = None):
    query = _orders(community_ids).where(PaymentOrder.channel == Channel.WECHAT)
    if status:
        query = query.where(PaymentOrder.status == status)
    if q:
        query = query.where(PaymentOrder.out_trade_no.contains(q.strip())
                            | PaymentOrder.transaction_id.contains(q.strip()))
    if date_from:
        query = query.where(PaymentOrder.created_at >= local_midnight_utc(date_from))
    if date_to:
        query = query.where(PaymentOrder.created_at < local_midnight_utc(date_to + dt.timedelta(days=1)))
    return query.order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc())


def order_lines(order_ids: list[int]) -> dict[int, list[OrderBill]]:
    """The bills of many orders in one query: {order_id: [OrderBill with bill, item, house]}."""
    result: dict[int, list[OrderBill]] = {i: [] for i in order_ids}
    if not order_ids:
        return result
    for line in (OrderBill.select(OrderBill, Bill, FeeItem, House, Building)
                 .join(Bill, on=(OrderBill.bill == Bill.id)).join(FeeItem)
                 .switch(Bill).join(House).join(Building)
                 .where(OrderBill.order.in_(order_ids))
                 .order_by(OrderBill.order, Bill.period, FeeItem.code, Bill.id)):
        line.house_label = house_label(line.bill.house)
        result[line.order_id].append(line)
    return result


def order_detail(order_id: int) -> PaymentOrder | None:
    return _orders_any().where(PaymentOrder.id == order_id).first()


def _orders_any():
    """Orders with their community, cashier, approver and payment (one query).  Every
    join is LEFT OUTER on a unique key, so counting the list reads only the orders."""
    return (PaymentOrder.select(PaymentOrder, Community, Operator, Approver, Payment)
            .join(Community, pw.JOIN.LEFT_OUTER, on=(PaymentOrder.community == Community.id))
            .switch(PaymentOrder).join(Operator, pw.JOIN.LEFT_OUTER,
                                       on=(PaymentOrder.operator == Operator.id))
            .switch(PaymentOrder).join(Approver, pw.JOIN.LEFT_OUTER,
                                       on=(PaymentOrder.approved_by == Approver.id))
            .switch(PaymentOrder).join(Payment, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id),
                                       attr="pay"))


def notify_events(out_trade_no: str) -> list[NotifyEvent]:
    return list(NotifyEvent.select().where(NotifyEvent.out_trade_no == out_trade_no)
                .order_by(NotifyEvent.received_at, NotifyEvent.id))


def audit_rows(entity: str, entity_ids: list) -> list[AuditLog]:
    if not entity_ids:
        return []
    return list(AuditLog.select().where(AuditLog.entity == entity,
                                        AuditLog.entity_id.in_([str(i) for i in entity_ids]))
                .order_by(AuditLog.at, AuditLog.id))


# ------------------------------------------------------------------ cash days
def cash_day(operator_id: int, community_id: int, day: dt.date) -> dict:
    """A cashier's offline receipts of one day in one community, totalled by channel."""
    orders = list(_orders([community_id]).where(
        PaymentOrder.operator == operator_id, PaymentOrder.received_on == day,
        PaymentOrder.channel.in_(Channel.OFFLINE)).order_by(PaymentOrder.created_at, PaymentOrder.id))
    totals = {c: {"count": 0, "fen": 0} for c in Channel.OFFLINE}
    pending = 0
    for order in orders:
        if order.status == OrderStatus.CREATED:
            pending += 1
        elif order.status != OrderStatus.CLOSED:
            totals[order.channel]["count"] += 1
            totals[order.channel]["fen"] += order.total_fen
    close = CashClose.get_or_none(CashClose.operator == operator_id, CashClose.community == community_id,
                                  CashClose.business_date == day)
    return {"orders": orders, "totals": totals, "pending": pending, "close": close,
            "count": sum(t["count"] for t in totals.values()),
            "total_fen": sum(t["fen"] for t in totals.values())}


def cash_closes(community_ids: list[int], operator_id: int | None = None):
    query = (CashClose.select(CashClose, Community, Operator)
             .join(Community, on=(CashClose.community == Community.id))
             .switch(CashClose).join(Operator, on=(CashClose.operator == Operator.id))
             .where(CashClose.community.in_(community_ids)))
    if operator_id:
        query = query.where(CashClose.operator == operator_id)
    return query.order_by(CashClose.business_date.desc(), CashClose.id.desc())


def cashiers(community_ids: list[int]) -> list[StaffUser]:
    """Staff who took offline receipts in these communities (for the cash-close filter)."""
    ids = (PaymentOrder.select(PaymentOrder.operator).distinct()
           .where(PaymentOrder.community.in_(community_ids), PaymentOrder.operator.is_null(False)))
    return list(StaffUser.select().where(StaffUser.id.in_(ids)).order_by(StaffUser.username))


# ------------------------------------------------------------- payments, refunds
def payment_detail(payment_id: int) -> Payment | None:
    return (Payment.select(Payment, Community, PaymentOrder, Operator)
            .join(Community, on=(Payment.community == Community.id))
            .switch(Payment).join(PaymentOrder, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id))
            .switch(Payment).join(Operator, pw.JOIN.LEFT_OUTER, on=(Payment.operator == Operator.id))
            .where(Payment.id == payment_id).first())


def payment_allocations(payment_id: int) -> list[Allocation]:
    """Each bill the payment went to, with ``refundable_fen`` (paid less reserved refunds)."""
    lines = list(Allocation.select(Allocation, Bill, FeeItem, House, Building)
                 .join(Bill).join(FeeItem).switch(Bill).join(House).join(Building)
                 .where(Allocation.payment == payment_id).order_by(Bill.period, FeeItem.code, Bill.id))
    reserved: dict[int, int] = {}
    for row in (Refund.select(Refund.bill, pw.fn.SUM(Refund.amount_fen).alias("fen"))
                .where(Refund.payment == payment_id, Refund.status.in_(RefundStatus.RESERVED))
                .group_by(Refund.bill).namedtuples()):
        reserved[row.bill] = int(row.fen or 0)
    for line in lines:
        line.house_label = house_label(line.bill.house)
        line.refundable_fen = line.amount_fen - reserved.get(line.bill_id, 0)
    return lines


def refunds(community_ids: list[int] | None = None, *, payment_id: int | None = None, status: str = "",
            q: str = ""):
    """Refunds with their payment, bill, item, house, requester and approver (newest first)."""
    query = (Refund.select(Refund, Payment, Community, Bill, FeeItem, House, Building, Requester, Approver)
             .join(Payment).join(Community, on=(Payment.community == Community.id))
             .switch(Refund).join(Bill).join(FeeItem).switch(Bill).join(House).join(Building)
             .switch(Refund).join(Requester, pw.JOIN.LEFT_OUTER, on=(Refund.requested_by == Requester.id))
             .switch(Refund).join(Approver, pw.JOIN.LEFT_OUTER, on=(Refund.approved_by == Approver.id)))
    if community_ids is not None:
        query = query.where(Payment.community.in_(community_ids))
    if payment_id is not None:
        query = query.where(Refund.payment == payment_id)
    if status:
        query = query.where(Refund.status == status)
    if q:
        query = query.where(Refund.out_refund_no.contains(q.strip()))
    return query.order_by(Refund.created_at.desc(), Refund.id.desc())
