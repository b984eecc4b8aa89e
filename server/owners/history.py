"""What an owner has paid: the payment history and each payment's receipt (收据).

A payment is the owner's to see when it was made for an order the owner placed,
or when part of it went to a bill of a house the owner is bound to; anything
else is "not found".  A receipt shows all of the payment's bills to the owner
who paid, and only the bills of the owner's own houses to anyone else bound to
one of them.  Every list is a fixed number of queries, whatever its length.
"""
from __future__ import annotations

import re

import peewee as pw

from payments.models import Channel, PaymentOrder
from server.billing.models import Bill, FeeItem
from server.errors import NotFound
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.owners.statements import REFUNDS_SHOWN
from server.property.models import Binding, BindingStatus, Building, Community, House
from server.timeutil import local_now

# Community code + year + sequence; codes are free text, so only what cannot be a number goes.
RECEIPT_NO = re.compile(r"[^\x00-\x1f\x7f]{1,32}")
CHANNEL_LABELS = Channel.NAMES
_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_GROUPS = ("", "万", "亿", "万亿")


def amount_in_words(fen: int) -> str:
    """人民币大写: 15500 → 壹佰伍拾伍元整; 100005 → 壹仟元零伍分; 5 → 伍分."""
    if fen < 0:
        return "负" + amount_in_words(-fen)
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    if fen == 0:
        return "零元整"
    words = _integer_words(yuan) + "元" if yuan else ""
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif cents and yuan:
        words += "零"
    if cents:
        words += _DIGITS[cents] + "分"
    return words if jiao or cents else words + "整"


def _section_words(section: int) -> str:
    """0 < section < 10000, with inner zeros read once: 1005 → 壹仟零伍."""
    words, zero = "", False
    for power, unit in ((3, "仟"), (2, "佰"), (1, "拾"), (0, "")):
        digit = section // 10 ** power % 10
        if digit == 0:
            zero = zero or bool(words)
            continue
        if zero:
            words, zero = words + "零", False
        words += _DIGITS[digit] + unit
    return words


def _integer_words(number: int) -> str:
    sections = []
    while number:
        number, section = divmod(number, 10_000)
        sections.append(section)
    words, gap = "", False
    for index in reversed(range(len(sections))):
        section = sections[index]
        if section == 0:
            gap = gap or bool(words)
            continue
        if words and (gap or section < 1000):
            words += "零"
        words, gap = words + _section_words(section) + _GROUPS[index], False
    return words


def mask(reference: str | None) -> str | None:
    """4200001234202611231234567890 → 420000******************7890: enough to match a
    statement line, not enough to reuse."""
    if not reference:
        return None
    keep = 4 if len(reference) >= 12 else max(len(reference) // 4, 1)
    head = 6 if len(reference) >= 16 else keep
    return reference[:head] + "*" * (len(reference) - head - keep) + reference[-keep:]


def _bound_houses(owner_id: int) -> set[int]:
    return {b.house_id for b in Binding.select(Binding.house)
            .where(Binding.owner == owner_id, Binding.status == BindingStatus.ACTIVE)}


def _payments(owner_id: int):
    """Payments of this owner's orders or on the owner's houses, with order and community."""
    on_my_houses = (Allocation.select(Allocation.payment).join(Bill)
                    .join(Binding, on=(Binding.house == Bill.house))
                    .where(Binding.owner == owner_id, Binding.status == BindingStatus.ACTIVE))
    return (Payment.select(Payment, PaymentOrder, Community)
            .join(PaymentOrder, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id))
            .switch(Payment).join(Community, on=(Payment.community == Community.id))
            .where(Payment.id.in_(on_my_houses) | (PaymentOrder.owner == owner_id)))


def _details(payments: list[Payment], owner_id: int) -> list[dict]:
    """Each payment with its visible allocations and refunds: three more queries."""
    ids = [p.id for p in payments]
    houses = _bound_houses(owner_id)
    allocations: dict[int, list[dict]] = {i: [] for i in ids}
    refunds: dict[int, list[dict]] = {i: [] for i in ids}
    if ids:
        for a in (Allocation.select(Allocation, Bill, FeeItem, House, Building)
                  .join(Bill).join(FeeItem, on=(Bill.fee_item == FeeItem.id))
                  .switch(Bill).join(House, on=(Bill.house == House.id)).join(Building)
                  .where(Allocation.payment.in_(ids))
                  .order_by(Allocation.payment, Bill.period, FeeItem.code, Bill.id)):
            allocations[a.payment_id].append(_allocation(a))
        for r in (Refund.select().where(Refund.payment.in_(ids), Refund.status.in_(REFUNDS_SHOWN))
                  .order_by(Refund.created_at, Refund.id)):
            refunds[r.payment_id].append({
                "id": r.id, "bill_id": r.bill_id, "amount_fen": r.amount_fen, "status": r.status,
                "reason": r.reason, "created_at": r.created_at, "succeeded_at": r.succeeded_at})
    result = []
    for p in payments:
        payer = p.order_id is not None and p.order.owner_id == owner_id
        lines = [a for a in allocations[p.id] if payer or a["house"]["id"] in houses]
        shown = {a["bill_id"] for a in lines}
        result.append(_payment_dict(p, lines, [r for r in refunds[p.id] if r["bill_id"] in shown]))
    return result


def _allocation(a: Allocation) -> dict:
    bill, house = a.bill, a.bill.house
    label = "-".join(x for x in (house.building.name, house.unit, house.room_no) if x)
    return {"bill_id": bill.id, "period": bill.period, "amount_fen": a.amount_fen,
            "fee_item": {"id": bill.fee_item.id, "code": bill.fee_item.code, "name": bill.fee_item.name},
            "house": {"id": house.id, "label": label}}


def _payment_dict(p: Payment, lines: list[dict], refunds: list[dict]) -> dict:
    refunded = sum(r["amount_fen"] for r in refunds if r["status"] == RefundStatus.SUCCESS)
    status = "paid" if not refunded else ("refunded" if refunded >= p.amount_fen
                                          else "partially_refunded")
    return {"id": p.id, "receipt_no": p.receipt_no, "channel": p.channel,
            "channel_label": CHANNEL_LABELS.get(p.channel, p.channel), "amount_fen": p.amount_fen,
            "refunded_fen": refunded, "status": status, "received_at": p.received_at,
            "out_trade_no": p.order.out_trade_no if p.order_id else None,
            "community": {"id": p.community.id, "name": p.community.name},
            "allocations": lines, "refunds": refunds}


def payment_history(owner_id: int, *, limit: int = 20, offset: int = 0) -> dict:
    """Newest first; ``has_more`` says whether another page exists.  Five queries."""
    rows = list(_payments(owner_id).order_by(Payment.received_at.desc(), Payment.id.desc())
                .limit(limit + 1).offset(offset))
    return {"payments": _details(rows[:limit], owner_id), "has_more": len(rows) > limit}


def receipt(owner_id: int, number: str) -> dict:
    """The receipt of one of the owner's payments, with what a printed receipt needs."""
    payment = None
    if RECEIPT_NO.fullmatch(number or ""):
        payment = _payments(owner_id).where(Payment.receipt_no == number).first()
    if payment is None:
        raise NotFound("收据不存在", code="RECEIPT_NOT_FOUND")
    result = _details([payment], owner_id)[0]
    houses = {a["house"]["id"]: a["house"] for a in result["allocations"]}
    result.update(
        houses=list(houses.values()), amount_in_words=amount_in_words(payment.amount_fen),
        received_at_local=local_now(payment.received_at).strftime("%Y-%m-%d %H:%M:%S"),
        transaction_id=mask(payment.transaction_id), payer_name=payment.payer_name or None,
        # Not shown as a bill of this owner's: another house's bills, or money awaiting review.
        other_fen=payment.amount_fen - sum(a["amount_fen"] for a in result["allocations"]))
    return result
