"""Receipt numbers: per community and year, gap-free, assigned once.

``HY2026000123`` = community code + year + sequence.  The counter row is
created on first use and incremented with a single UPDATE inside the caller's
transaction, which holds its row lock until commit, so two payments can never
get the same number and a rolled-back payment gives its number back.
"""
from __future__ import annotations

import datetime as dt

from server.ledger.models import ReceiptCounter
from server.property.models import Community
from server.timeutil import local_today


def next_receipt_no(community: Community, on: dt.date | None = None) -> str:
    """Take the next number; call inside the transaction that records the payment."""
    year = (on or local_today()).year
    ReceiptCounter.insert(community=community, year=year, last_seq=0).on_conflict_ignore().execute()
    (ReceiptCounter.update(last_seq=ReceiptCounter.last_seq + 1)
     .where(ReceiptCounter.community == community, ReceiptCounter.year == year)
     .execute())
    seq = (ReceiptCounter.select(ReceiptCounter.last_seq)
           .where(ReceiptCounter.community == community, ReceiptCounter.year == year)
           .scalar())
    return f"{community.code}{year}{seq:06d}"


def staff_receipt(number: str) -> dict | None:
    """A receipt as staff print it: the owner's receipt data (``server.owners.history``)
    for every bill of the payment, plus house owners, cashier and voucher.

    ``None`` when no payment has that number.  Three queries.
    """
    import peewee as pw

    from payments.models import PaymentOrder
    from server.ledger.models import Payment
    from server.owners import history
    from server.staff.models import StaffUser

    if not history.RECEIPT_NO.fullmatch(number or ""):
        return None
    payment = (Payment.select(Payment, PaymentOrder, Community, StaffUser)
               .join(PaymentOrder, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id))
               .switch(Payment).join(Community, on=(Payment.community == Community.id))
               .switch(Payment).join(StaffUser, pw.JOIN.LEFT_OUTER, on=(Payment.operator == StaffUser.id))
               .where(Payment.receipt_no == number).first())
    if payment is None:
        return None
    return _staff_receipt_data(payment)


def _staff_receipt_data(payment) -> dict:
    from server.billing.models import Bill, FeeItem
    from server.ledger.models import Allocation, Refund
    from server.owners import history
    from server.owners.statements import REFUNDS_SHOWN
    from server.property.models import Building, House
    from server.timeutil import local_now

    rows = list(Allocation.select(Allocation, Bill, FeeItem, House, Building)
                .join(Bill).join(FeeItem, on=(Bill.fee_item == FeeItem.id))
                .switch(Bill).join(House, on=(Bill.house == House.id)).join(Building)
                .where(Allocation.payment == payment.id)
                .order_by(Bill.period, FeeItem.code, Bill.id))
    lines = [history._allocation(a) for a in rows]
    refunds = [{"id": r.id, "bill_id": r.bill_id, "amount_fen": r.amount_fen, "status": r.status,
                "reason": r.reason, "created_at": r.created_at, "succeeded_at": r.succeeded_at}
               for r in Refund.select().where(Refund.payment == payment.id, Refund.status.in_(REFUNDS_SHOWN))
               .order_by(Refund.created_at, Refund.id)]
    result = history._payment_dict(payment, lines, refunds)
    houses: dict[int, dict] = {}
    for a, line in zip(rows, lines):
        houses.setdefault(a.bill.house_id, {**line["house"], "owner_name": a.bill.house.owner_name})
    operator = payment.operator if payment.operator_id else None
    result.update(
        community_id=payment.community_id, houses=list(houses.values()),
        amount_in_words=history.amount_in_words(payment.amount_fen),
        received_at_local=local_now(payment.received_at).strftime("%Y-%m-%d %H:%M:%S"),
        transaction_id=payment.transaction_id, voucher_no=payment.voucher_no,
        payer_name=payment.payer_name or None,
        cashier=(operator.display_name or operator.username) if operator else None,
        other_fen=payment.amount_fen - sum(line["amount_fen"] for line in lines))
    return result
