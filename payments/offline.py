"""Offline payments (cash, bank transfer, POS) and the cashier's daily close.

An offline receipt is an order with an offline channel: it holds its bills
through the same UNIQUE ``open_bill`` index as a WeChat order (so a bill can
never be paid at the counter while the owner is at WeChat's cashier), carries
a unique voucher number, and is credited through the same conditional
``created → paid`` transition.  At or above the approval threshold a second
staff member must approve before the money is booked.  After a cashier closes
a day, nothing more can be booked for that cashier and day.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from payments.models import CashClose, Channel, OrderBill, OrderStatus, PaymentOrder
from payments.orders import new_out_trade_no, request_hash
from payments.states import transition
from server import audit
from server.billing.models import Bill, BillStatus
from server.db import for_update, transaction
from server.errors import Conflict, Forbidden, NotFound, ValidationError
from server.ledger import posting
from server.ledger.models import Payment
from server.ledger.receipts import next_receipt_no
from server.money import format_yuan
from server.staff.models import StaffUser
from server.timeutil import SHANGHAI, local_midnight_utc, local_today, utcnow

_STATUS_ZH = {BillStatus.PAID: "已缴清", BillStatus.WAIVED: "已减免", BillStatus.VOID: "已作废"}


def _check_day_open(operator_id: int, community_id: int, day: dt.date) -> None:
    """Call inside the booking transaction: the cashier's row lock orders it
    against ``close_cash_day``, so nothing is booked into a day already totalled."""
    for_update(StaffUser.select().where(StaffUser.id == operator_id)).first()
    if CashClose.select().where(CashClose.operator == operator_id, CashClose.community == community_id,
                                CashClose.business_date == day).exists():
        raise Conflict(f"{day} 已日结，不能再登记收款", code="CASH_DAY_CLOSED")


def record_offline_payment(community_id: int, allocations: list[tuple[int, int]], channel: str,
                           voucher_no: str, payer_name: str, actor: audit.Actor, *,
                           approval_threshold_fen: int, received_on: dt.date | None = None,
                           idempotency_key: str | None = None) -> PaymentOrder:
    """Register money taken at the counter for the given bills.

    Below the threshold it is booked at once (receipt number assigned); at or
    above it waits for ``approve_offline_payment`` by someone else.

    ``idempotency_key`` (a client's request id) is stored on the order in the same
    transaction; a UNIQUE index on (operator, key) over offline orders refuses a
    second order with it, whatever the race: Conflict ``IDEMPOTENCY_KEY_USED`` with
    the first order's id in ``details["order_id"]`` (the caller answers with it).
    """
    if channel not in Channel.OFFLINE:
        raise ValidationError("收款方式无效", details={"channel": f"应为 {', '.join(Channel.OFFLINE)} 之一"})
    voucher_no = (voucher_no or "").strip()
    if not voucher_no:
        raise ValidationError("请填写凭证号", details={"voucher_no": "必填"})
    if actor.staff_id is None:
        raise Forbidden("只有工作人员可以登记线下收款")
    if not allocations:
        raise ValidationError("请选择账单", details={"bills": "至少一张"})
    received_on = received_on or local_today()
    bills = {b.id: b for b in Bill.select().where(Bill.id.in_([i for i, _ in allocations]))}
    errors = {}
    for bill_id, amount in allocations:
        bill = bills.get(bill_id)
        if bill is None or bill.community_id != community_id:
            errors[str(bill_id)] = "账单不存在"
        elif bill.status not in BillStatus.OPEN:
            errors[str(bill_id)] = f"账单{_STATUS_ZH.get(bill.status, bill.status)}，不能再收款"
        elif isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= bill.balance_fen:
            errors[str(bill_id)] = f"金额须在 0.01 到 {format_yuan(bill.balance_fen)} 元之间"
    if errors:
        raise ValidationError("收款信息有误", details=errors)
    total = sum(amount for _, amount in allocations)
    now = utcnow()
    try:
        with transaction():
            _check_day_open(actor.staff_id, community_id, received_on)
            order = PaymentOrder.create(
                out_trade_no=new_out_trade_no(now), community=community_id, channel=channel,
                total_fen=total, description="线下收款", status=OrderStatus.CREATED,
                request_hash=request_hash([i for i, _ in allocations]), voucher_no=voucher_no,
                payer_name=(payer_name or "")[:64], operator=actor.staff_id, received_on=received_on,
                idempotency_key=idempotency_key or None, created_at=now, updated_at=now)
            OrderBill.insert_many([{"order": order.id, "bill": i, "amount_fen": a, "open_bill": i}
                                   for i, a in allocations]).execute()
            audit.record(actor, "offline_payment.record", "payment_order", order.id,
                         community_id=community_id,
                         after={"channel": channel, "voucher_no": voucher_no, "total_fen": total,
                                "bills": dict(allocations)})
            if total < approval_threshold_fen:
                _book(order, actor)
    except pw.IntegrityError:
        if idempotency_key:
            first = order_with_key(actor.staff_id, idempotency_key)
            if first is not None:
                raise Conflict("同一个 Idempotency-Key 已登记过收款", code="IDEMPOTENCY_KEY_USED",
                               details={"order_id": first.id}) from None
        if PaymentOrder.select().where(PaymentOrder.voucher_no == voucher_no).exists():
            raise Conflict("凭证号已登记过", code="VOUCHER_USED", details={"voucher_no": voucher_no}) from None
        raise Conflict("账单正在另一笔支付中", code="BILL_IN_OPEN_ORDER") from None
    return PaymentOrder.get_by_id(order.id)


def order_with_key(operator_id: int, key: str) -> PaymentOrder | None:
    """The offline order a staff member recorded with ``key`` (the unique index's rows)."""
    return (PaymentOrder.select()
            .where(PaymentOrder.operator == operator_id, PaymentOrder.owner.is_null(),
                   PaymentOrder.idempotency_key == key).first())


def approve_offline_payment(order_id: int, actor: audit.Actor) -> PaymentOrder:
    with transaction():
        order = for_update(PaymentOrder.select().where(PaymentOrder.id == order_id)).first()
        if order is None or order.channel not in Channel.OFFLINE:
            raise NotFound("线下收款不存在")
        if order.status != OrderStatus.CREATED:
            return order
        if actor.staff_id == order.operator_id:
            raise Forbidden("需由另一名工作人员审批", code="SECOND_APPROVER_REQUIRED")
        _check_day_open(order.operator_id, order.community_id, order.received_on)
        _book(order, actor)
    return PaymentOrder.get_by_id(order_id)


def reject_offline_payment(order_id: int, actor: audit.Actor, note: str = "") -> PaymentOrder:
    with transaction():
        order = PaymentOrder.get_by_id(order_id)
        if transition(order, OrderStatus.CLOSED, expect=(OrderStatus.CREATED,), closed_at=utcnow(),
                      remote_closed=True, last_error=f"rejected: {note}"[:255]):
            audit.record(actor, "offline_payment.reject", "payment_order", order.id, note=note,
                         community_id=order.community_id)
    return order


def _book(order: PaymentOrder, actor: audit.Actor) -> Payment:
    if not transition(order, OrderStatus.PAID, expect=(OrderStatus.CREATED,), paid_at=utcnow(),
                      approved_by=actor.staff_id):
        raise Conflict("该收款已处理", code="ALREADY_BOOKED")
    same_day = order.received_on == order.created_at.astimezone(SHANGHAI).date()
    received_at = order.created_at if same_day else local_midnight_utc(order.received_on)
    payment = Payment.create(
        community=order.community_id, order=order, channel=order.channel, amount_fen=order.total_fen,
        voucher_no=order.voucher_no, payer_name=order.payer_name, operator=order.operator_id,
        received_at=received_at, receipt_no=next_receipt_no(order.community, order.received_on))
    plan = [(line.bill_id, line.amount_fen) for line in order.lines.order_by(OrderBill.bill)]
    posting.allocate_payment(payment, plan, actor)
    audit.record(actor, "offline_payment.book", "payment", payment.id, community_id=order.community_id,
                 after={"receipt_no": payment.receipt_no, "amount_fen": payment.amount_fen})
    return payment


def close_cash_day(operator_id: int, community_id: int, day: dt.date, actor: audit.Actor) -> CashClose:
    """Total a cashier's booked offline receipts for ``day`` by channel and lock the day.

    Receipts still waiting for approval must be approved or rejected first.
    """
    offline = (PaymentOrder.select()
               .where(PaymentOrder.operator == operator_id, PaymentOrder.community == community_id,
                      PaymentOrder.received_on == day, PaymentOrder.channel.in_(Channel.OFFLINE)))
    try:
        with transaction():
            for_update(StaffUser.select().where(StaffUser.id == operator_id)).first()
            waiting = offline.where(PaymentOrder.status == OrderStatus.CREATED).count()
            if waiting:
                raise Conflict(f"还有 {waiting} 笔收款待审批，不能日结", code="PENDING_APPROVALS",
                               details={"pending": waiting})
            totals: dict[str, int] = {}
            count = 0
            for order in offline.where(PaymentOrder.status != OrderStatus.CLOSED):
                totals[order.channel] = totals.get(order.channel, 0) + order.total_fen
                count += 1
            close = CashClose.create(operator=operator_id, community=community_id, business_date=day,
                                     totals=totals, count=count, total_fen=sum(totals.values()))
            audit.record(actor, "cash.close", "cash_close", close.id, community_id=community_id,
                         after={"operator_id": operator_id, "date": str(day), "totals": totals})
    except pw.IntegrityError:
        raise Conflict(f"{day} 已经日结", code="CASH_DAY_CLOSED") from None
    return close
