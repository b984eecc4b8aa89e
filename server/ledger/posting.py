"""The one place where the ledger moves a bill's running totals.

``allocate_payment`` adds received money to bills, ``apply_refund_success``
takes refunded money off again; both change ``paid_fen`` with a conditional
update on a locked row, re-derive the bill's status, and write an audit
record, inside the caller's transaction when there is one (a nested
``atomic()`` is a savepoint).  ``paid_fen`` never exceeds what the bill asks
for and never goes below zero.
"""
from __future__ import annotations

import peewee

from server import audit
from server.billing.models import Bill, BillStatus
from server.db import for_update, transaction
from server.errors import Conflict, NotFound, ValidationError
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.money import format_yuan
from server.timeutil import utcnow

_STATUS_ZH = {BillStatus.PAID: "已缴清", BillStatus.WAIVED: "已减免", BillStatus.VOID: "已作废"}
_REFUND_ZH = {RefundStatus.PENDING_APPROVAL: "待审批", RefundStatus.REJECTED: "已驳回",
              RefundStatus.ABNORMAL: "异常", RefundStatus.CLOSED: "已关闭"}


def status_for(amount_fen: int, adjusted_fen: int, late_fee_fen: int, paid_fen: int,
               voided: bool) -> str:
    """A bill's status from its numbers.  Nothing left to pay: ``paid`` if money
    came in, else ``waived`` (adjusted down to nothing).  ``void`` is sticky."""
    if voided:
        return BillStatus.VOID
    if paid_fen >= amount_fen + adjusted_fen + late_fee_fen:
        return BillStatus.PAID if paid_fen > 0 else BillStatus.WAIVED
    return BillStatus.PARTIALLY_PAID if paid_fen > 0 else BillStatus.UNPAID


def derive_status(bill: Bill) -> str:
    return status_for(bill.amount_fen, bill.adjusted_fen, bill.late_fee_fen, bill.paid_fen,
                      bill.status == BillStatus.VOID)


def _snapshot(bill: Bill) -> dict:
    return {"paid_fen": bill.paid_fen, "adjusted_fen": bill.adjusted_fen,
            "late_fee_fen": bill.late_fee_fen, "status": bill.status}


def lock_bill(bill_id: int) -> Bill:
    bill = for_update(Bill.select().where(Bill.id == bill_id)).first()
    if bill is None:
        raise NotFound(f"账单 {bill_id} 不存在")
    return bill


def _move_paid(bill: Bill, delta: int) -> None:
    """paid_fen += delta, refused unless 0 ≤ paid ≤ total due afterwards."""
    total_due = Bill.amount_fen + Bill.adjusted_fen + Bill.late_fee_fen
    updated = (Bill.update(paid_fen=Bill.paid_fen + delta)
               .where(Bill.id == bill.id, Bill.paid_fen + delta >= 0,
                      Bill.paid_fen + delta <= total_due)
               .execute())
    if updated != 1:
        if delta > 0:
            message = (f"账单 {bill.id} 应缴 {format_yuan(bill.total_due_fen)} 元、已缴 "
                       f"{format_yuan(bill.paid_fen)} 元，再缴 {format_yuan(delta)} 元将超过应缴金额")
        else:
            message = (f"账单 {bill.id} 已缴 {format_yuan(bill.paid_fen)} 元，"
                       f"不能退 {format_yuan(-delta)} 元")
        raise Conflict(message,
                       code="BILL_OVERPAID" if delta > 0 else "REFUND_EXCEEDS_PAID",
                       details={"bill_id": bill.id, "paid_fen": bill.paid_fen, "delta": delta})
    bill.paid_fen += delta
    bill.status = derive_status(bill)
    Bill.update(status=bill.status).where(Bill.id == bill.id).execute()


def allocate_payment(payment, allocations: list[tuple[int, int]], actor: audit.Actor) -> list[Allocation]:
    """Apply ``payment`` to bills: [(bill_id, amount_fen), …], all or nothing.

    Refused (Conflict) when a bill is not open (paid, waived, void), when an
    amount exceeds what the bill still asks for, when the payment would be
    allocated beyond its amount, or when the payment was already allocated to
    that bill.  Bills are locked in id order so concurrent calls cannot deadlock.
    """
    payment_id = payment.id if isinstance(payment, Payment) else payment
    if not allocations:
        raise ValidationError("没有要入账的账单")
    bill_ids = [bill_id for bill_id, _ in allocations]
    if len(set(bill_ids)) != len(bill_ids):
        raise ValidationError("同一张账单出现了两次", details={"bills": bill_ids})
    for bill_id, amount in allocations:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValidationError(f"账单 {bill_id} 的入账金额应为正数（整数分）",
                                  details={str(bill_id): repr(amount)})
    with transaction():
        payment = for_update(Payment.select().where(Payment.id == payment_id)).first()
        if payment is None:
            raise NotFound(f"收款记录 {payment_id} 不存在")
        already = (Allocation.select(peewee.fn.SUM(Allocation.amount_fen))
                   .where(Allocation.payment == payment.id).scalar()) or 0
        wanted = sum(amount for _, amount in allocations)
        if already + wanted > payment.amount_fen:
            raise Conflict(f"收款金额 {format_yuan(payment.amount_fen)} 元，已入账 {format_yuan(already)} 元，"
                           f"不够再入账 {format_yuan(wanted)} 元",
                           code="PAYMENT_OVER_ALLOCATED",
                           details={"amount_fen": payment.amount_fen, "allocated_fen": already,
                                    "requested_fen": wanted})
        created = []
        for bill_id, amount in sorted(allocations):
            bill = lock_bill(bill_id)
            if bill.community_id != payment.community_id:
                raise ValidationError(f"账单 {bill_id} 属于其他小区，不能用这笔收款入账")
            if bill.status not in BillStatus.OPEN:
                raise Conflict(f"账单 {bill_id} {_STATUS_ZH.get(bill.status, bill.status)}，不能再收款",
                               code="BILL_NOT_OPEN",
                               details={"bill_id": bill_id, "status": bill.status})
            before = _snapshot(bill)
            _move_paid(bill, amount)
            try:
                with transaction():
                    allocation = Allocation.create(payment=payment, bill=bill_id, amount_fen=amount)
            except peewee.IntegrityError:
                raise Conflict(f"收款记录 {payment.id} 已入账到账单 {bill_id}，不能重复入账",
                               code="ALREADY_ALLOCATED") from None
            audit.record(actor, "bill.allocate", "bill", bill_id, before=before,
                         after={**_snapshot(bill), "payment_id": payment.id, "amount_fen": amount},
                         community_id=bill.community_id)
            created.append(allocation)
    return created


def apply_refund_success(refund, actor: audit.Actor | None = None, *, refund_id: str | None = None,
                         succeeded_at=None) -> bool:
    """Mark a refund successful and take its amount off the bill's paid total.

    This function makes the move to ``success`` itself (from processing or
    abnormal) with a conditional update, so the bill is debited exactly once:
    a repeat returns False and changes nothing.  Callers must not set the
    status to success themselves.
    """
    actor = actor or audit.Actor.system("refunds")
    pk = refund.id if isinstance(refund, Refund) else refund
    now = utcnow()
    with transaction():
        values = {"status": RefundStatus.SUCCESS, "succeeded_at": succeeded_at or now, "updated_at": now}
        if refund_id:
            values["refund_id"] = refund_id
        claimed = (Refund.update(**values)
                   .where(Refund.id == pk,
                          Refund.status.in_((RefundStatus.PROCESSING, RefundStatus.ABNORMAL)))
                   .execute())
        row = Refund.get_or_none(Refund.id == pk)
        if row is None:
            raise NotFound(f"退款 {pk} 不存在")
        if not claimed:
            if row.status == RefundStatus.SUCCESS:
                return False
            raise Conflict(f"退款 {pk} 的状态是{_REFUND_ZH.get(row.status, row.status)}，不是处理中，不能记为成功",
                           code="REFUND_NOT_PROCESSING")
        bill = lock_bill(row.bill_id)
        before = _snapshot(bill)
        _move_paid(bill, -row.amount_fen)
        audit.record(actor, "bill.refund", "bill", bill.id, before=before,
                     after={**_snapshot(bill), "refund_id": row.id, "amount_fen": row.amount_fen},
                     community_id=bill.community_id)
    if isinstance(refund, Refund):
        refund.status, refund.succeeded_at = row.status, row.succeeded_at
    return True
